"""`chaoskit run --metrics-port --pushgateway`: scraped while it runs, final results queryable after it."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaoskit.engine.save import load_summary
from chaoskit.metrics import RunMetrics
from tests.prometheus.servers import HOST, Prometheus, free_port, poll, process

pytestmark = [pytest.mark.prometheus, pytest.mark.local, pytest.mark.slow]

ROOT = Path(__file__).parents[2]
EXPERIMENT = "metrics-push"


def short_experiment(directory: Path) -> Path:
    """pod-recreate renamed, one pod deletion 1 s into a 3 s chaos phase (the whole run takes ~15 s)."""
    spec: dict[str, Any] = yaml.safe_load((ROOT / "experiments" / "pod-recreate.yaml").read_text(encoding="utf-8"))
    spec["name"] = EXPERIMENT
    spec["target"]["manifests"] = [str(ROOT / "manifests" / "target.yaml")]
    spec["faults"][0]["schedule"] = {"at": "1s", "times": 1}
    path = directory / f"{EXPERIMENT}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def run_cli(args: list[str], log: Path, *, timeout_s: float) -> int:
    with process([sys.executable, "-m", "chaoskit.cli", *args], log) as child:
        try:
            return child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"chaoskit run did not finish in {timeout_s:g} s: {log.read_text(errors='replace')[-2000:]}")


def test_run_is_scraped_live_and_its_results_pushed(prom_stack: tuple[Prometheus, str], tmp_path: Path) -> None:
    prom, gateway = prom_stack
    port = free_port()
    prom.scrape([f"{HOST}:{port}"])
    started = time.time()
    code = run_cli(["run", str(short_experiment(tmp_path)), "--baseline", "1s", "--chaos", "3s", "--recovery", "1s",
                    "--out", str(tmp_path / "runs"), "--seed", "1", "--quiet", "--metrics-port", str(port),
                    "--metrics-linger", "10s", "--pushgateway", gateway], tmp_path / "cli.log", timeout_s=120)
    assert code in (0, 1, 4), (tmp_path / "cli.log").read_text(errors="replace")  # a verdict, not an error
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary, _ = load_summary(run_dir)
    live = f'experiment="{EXPERIMENT}", job="chaoskit-live"'
    chaos = prom.query_range(f'chaoskit_experiment_phase{{{live}, phase="chaos"}} == 1', start=started,
                             end=time.time())
    assert chaos, "Prometheus never scraped the run during its chaos phase"
    # The exporter stopped after one scrape of the final values: look back past its staleness marker.
    # The scrape the exporter waited for may still be on its way into the TSDB when the run exits: poll.
    lingered = poll("the lingered final verdict (--metrics-linger keeps it up until one scrape)",
                    lambda: prom.query(f"last_over_time(chaoskit_experiment_verdict{{{live}}}[5m])") or None,
                    timeout_s=15)
    assert float(lingered[0]["value"][1]) == (1.0 if summary.verdict.passed else 0.0)

    pushed = f'experiment="{EXPERIMENT}", run="{summary.run_id}", job="chaoskit"'
    verdict = poll("the pushed verdict", lambda: prom.query(f"chaoskit_experiment_verdict{{{pushed}}}") or None,
                   timeout_s=20)
    assert float(verdict[0]["value"][1]) == (1.0 if summary.verdict.passed else 0.0)
    requests = prom.query(f"sum(chaoskit_requests_total{{{pushed}}})")
    assert float(requests[0]["value"][1]) == summary.requests > 0
    info = prom.query(f"chaoskit_run_info{{{pushed}}}")
    assert [s["metric"]["run_id"] for s in info] == [summary.run_id]

    recovery = {(s["metric"]["fault"], s["metric"]["clock"]): float(s["value"][1])
                for s in prom.query(f"chaoskit_recovery_seconds{{{pushed}}}")}
    assert [f.name for f in summary.recovery] == ["delete-one-pod#1"]
    fault = summary.recovery[0]
    expected = {("delete-one-pod#1", clock): value for clock, value in fault.clocks().items()}
    assert fault.replacement_ready_s is not None
    assert recovery.keys() == {k for k, v in expected.items() if v is not None}
    assert all(math.isclose(recovery[k], v, abs_tol=1e-6) for k, v in expected.items() if v is not None)

    survived = {(s["metric"]["volume_type"], s["metric"]["placement"]): float(s["value"][1])
                for s in prom.query(f"chaoskit_data_survived{{{pushed}}}")}
    assert summary.data, "the run made no data checks"
    assert survived == {(r.volume_type, r.placement): float(r.survived) for r in summary.data}

    # Pushing another run's group leaves this one alone (a PUT replaces its own group only).
    RunMetrics(EXPERIMENT, backend="local", run_id="another-run").push(gateway)
    poll("the second run's group", lambda: prom.query(
        f'chaoskit_run_info{{experiment="{EXPERIMENT}", run="another-run"}}') or None, timeout_s=20)
    assert prom.query(f"chaoskit_experiment_verdict{{{pushed}}}"), "pushing another run removed this run's results"


def test_an_unreachable_pushgateway_fails_the_run_as_infrastructure(tmp_path: Path) -> None:
    """Exit 3 after the run, with the run directory complete: the results are not lost, only not pushed."""
    nobody = f"http://{HOST}:{free_port()}"  # nothing listens there
    code = run_cli(["run", str(short_experiment(tmp_path)), "--baseline", "1s", "--chaos", "3s", "--recovery", "1s",
                    "--out", str(tmp_path / "runs"), "--seed", "1", "--quiet", "--pushgateway", nobody],
                   tmp_path / "cli.log", timeout_s=120)
    output = (tmp_path / "cli.log").read_text(errors="replace")
    assert code == 3, output
    assert f"push to {nobody} failed" in output
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert load_summary(run_dir)[0].requests > 0
