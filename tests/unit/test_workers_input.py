"""Bad worker counts (flag and experiment file), per-worker metrics and the report's workers section."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from chaoskit.cli.app import app
from chaoskit.experiment import SpecError
from chaoskit.kinds import load_experiment
from chaoskit.load.decode import RECORD_DTYPE, to_frame
from chaoskit.load.plan import LoadPlan, LoadTarget
from chaoskit.load.report import LagStats, WorkerTally, worker_report
from chaoskit.metrics import RunMetrics
from chaoskit.report.workers import workers_section

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("flags", "message"), [
    (["--workers", "0"], "--workers 0: at least 1 (or auto)"),
    (["--workers", "two"], "--workers two: not a count of worker processes, nor auto"),
    (["--workers", "-3"], "--workers -3: not a count of worker processes, nor auto"),
    (["--workers", "9", "--rate", "5"], "workers 9: at most 5: 5 req/s per address over 9 workers is 0.556 req/s "
                                        "each, under the 1 req/s a worker needs"),
    (["--workers", "65", "--rate", "1000"], "workers 65: at most 64"),
])
def test_a_bad_worker_count_is_exit_2_with_the_reason(tmp_path: Path, flags: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["run", "pod-recreate", "--out", str(tmp_path / "runs"), *flags])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "runs").exists()  # refused before anything started


def test_the_experiment_file_is_checked_where_it_says_workers(tmp_path: Path) -> None:
    text = (ROOT / "tests" / "local" / "experiments" / "control.yaml").read_text().replace(
        "../../../manifests/target.yaml", str(ROOT / "manifests" / "target.yaml"))
    bad, auto = tmp_path / "bad.yaml", tmp_path / "auto.yaml"
    bad.write_text(text.replace("  rate: 100\n", "  rate: 100\n  workers: 0\n"))
    auto.write_text(text.replace("  rate: 100\n", "  rate: 100\n  workers: auto\n"))
    with pytest.raises(SpecError) as info:
        load_experiment(bad)
    (issue,) = info.value.issues
    line = text.splitlines().index("  rate: 100") + 2  # 1-based, the line after rate
    assert issue.line == line and issue.message.endswith("workers 0: at least 1 (or auto)"), issue
    assert load_experiment(auto).load.workers == "auto"


def frame(worker: str, lags_ns: list[int]) -> object:
    plan = LoadPlan(targets=(LoadTarget("web", "ClusterIP", "127.62.0.1", 8080),), rate=10.0, duration_s=1.0,
                    connection="keepalive", timeout_s=1.0)
    arr = np.zeros(len(lags_ns), dtype=RECORD_DTYPE)
    arr["scheduled_ns"] = np.arange(len(lags_ns)) * 1000
    arr["start_ns"] = arr["scheduled_ns"] + np.array(lags_ns)
    return to_frame(arr, plan, worker=worker)


def samples(metrics: RunMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_per_worker_series_count_records_and_lags_then_health() -> None:
    metrics = RunMetrics("exp")
    metrics.on_records(frame("local/0", [1_000, 15_000_000, 2_000_000]))  # type: ignore[arg-type]
    metrics.on_records(frame("local/1", [30_000_000]))  # type: ignore[arg-type]
    got = samples(metrics)

    def at(name: str, worker: str, **extra: str) -> float:
        return got[(name, frozenset({"experiment": "exp", "worker": worker, **extra}.items()))]
    assert at("chaoskit_load_worker_requests_total", "local/0") == 3
    assert at("chaoskit_load_worker_start_lag_seconds_bucket", "local/0", le="0.01") == 2
    assert at("chaoskit_load_worker_start_lag_seconds_bucket", "local/1", le="0.02") == 0
    assert at("chaoskit_load_worker_start_lag_seconds_bucket", "local/1", le="0.05") == 1
    assert ("chaoskit_load_delivered", frozenset({"experiment": "exp"}.items())) not in got  # not before the end
    plan = LoadPlan(targets=(LoadTarget("web", "ClusterIP", "127.62.0.1", 8080),), rate=10.0, duration_s=1.0,
                    connection="keepalive", timeout_s=1.0, workers=2)
    ok = worker_report(plan, WorkerTally("local/0", plan.share(0), recorded=5), {
        "requests": 5, "cpu_seconds": 0.5, "wall_seconds": 1.0, "agent_saturated": 0}, 0)
    dead = worker_report(plan, WorkerTally("local/1", plan.share(1), recorded=1), None, -9)
    metrics.workers.finish([ok, dead])
    got = samples(metrics)
    assert at("chaoskit_load_worker_delivered", "local/0") == 1 and at("chaoskit_load_worker_delivered", "local/1") == 0
    assert at("chaoskit_load_worker_planned_requests", "local/1") == 5
    assert at("chaoskit_load_worker_cpu_ratio", "local/0") == 0.5
    assert got[("chaoskit_load_delivered", frozenset({"experiment": "exp"}.items()))] == 0


def test_the_report_says_what_was_not_delivered_and_how_many_workers_are_needed() -> None:
    plan = LoadPlan(targets=(LoadTarget("web", "ClusterIP", "127.62.0.1", 8080),), rate=1000.0, duration_s=10.0,
                    connection="keepalive", timeout_s=1.0, workers=2)
    busy = dataclasses.replace(worker_report(plan, WorkerTally("local/0", plan.share(0), where="pid 1", recorded=5000),
                                             {"requests": 5000, "cpu_seconds": 9.5, "wall_seconds": 10.0}, 0),
                               lag=LagStats(p99_ms=31.0, max_ms=90.0))
    dead = worker_report(plan, WorkerTally("local/1", plan.share(1), where="pid 2", recorded=120), None, -9)
    text = workers_section([busy, dead])
    assert "| local/0 | pid 1 | 5,000 | 5,000 | 500.0/s | 500.0/s | 31.0 / 90.0 ms | 95% |" in text
    assert "| local/1 | pid 2 | 5,000 | 120 |" in text and "**not delivered**" in text
    assert "worker local/1 (pid 2) died (signal 9): 120 of its 5,000 requests recorded" in text
    # 1.9 ms of CPU per request at 1,000 req/s: 1.9 cores, 3 workers at 70 % each.
    assert "the plan needs about 3 workers (`--workers 3`)" in text
