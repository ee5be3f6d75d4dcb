"""Findings proven before and after on the embedded cluster: a workload with the flaw gets the finding, with
evidence that matches the requests and events as saved; the same experiment with the finding's own YAML merged
into its manifests gets no such finding, and the failures it explained are gone."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from chaoskit.cluster.local.config import LocalClusterConfig
from tests.local.engine_support import experiment, run
from tests.local.findings_support import (
    CONNECT,
    dark_windows,
    failed,
    finding,
    rules,
    shutdown_windows,
    started_in,
    with_change,
)

pytestmark = [pytest.mark.local, pytest.mark.slow]


def _tables(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(run_dir / "requests.parquet"), pd.read_parquet(run_dir / "events.parquet")


def test_shutdown_race_found_then_gone_with_the_prestop_sleep(tmp_path: Path) -> None:
    spec = experiment("shutdown-race")
    summary, record = run(spec, tmp_path / "before")
    requests, events = _tables(record.run_dir)
    race = finding(summary, "shutdown-race")
    windows = shutdown_windows(events)
    assert len(windows) == 3  # the three deleted pods
    inside = started_in(requests, [(begin, end) for _, begin, end in windows], CONNECT)
    assert len(inside) > 0 and set(inside["outcome"].astype(str)) == {"reset"}  # the embedded cluster's refusal
    assert race.evidence.failures == len(inside)
    assert race.evidence.of_failures == len(failed(requests))
    assert (race.evidence.first_ns, race.evidence.last_ns) == (inside["start_ns"].min(), inside["start_ns"].max())
    hit = {pod for pod, begin, end in windows if len(started_in(requests, [(begin, end)], CONNECT))}
    assert set(race.evidence.pods) == hit
    assert race.evidence.measured["propagation_max_s"] == pytest.approx(
        max(end - begin for _, begin, end in windows) / 1e9, abs=1e-6)
    assert race.workload == "Deployment racy"
    assert race.evidence.measured["pre_stop_sleep_s"] == 0.0
    report = (record.run_dir / "report.md").read_text()
    assert "## Findings" in report and "`shutdown-race`" in report and "preStop" in report
    saved = json.loads((record.run_dir / "summary.json").read_text())
    assert [f["rule"] for f in saved["findings"]] == [f.rule for f in summary.findings]

    fixed, fixed_record = run(with_change(spec, race, tmp_path), tmp_path / "after")
    assert "shutdown-race" not in rules(fixed)
    after, after_events = _tables(fixed_record.run_dir)
    # The pods now serve through the same windows: no connection fails in them (nor anywhere else).
    assert len(shutdown_windows(after_events)) == 3
    assert started_in(after, [(begin, end) for _, begin, end in shutdown_windows(after_events)]).empty
    assert failed(after, CONNECT).empty


def test_slow_replacement_found_then_gone_with_the_probe_from_the_finding(tmp_path: Path) -> None:
    spec = experiment("slow-ready")
    summary, record = run(spec, tmp_path / "before")
    _, events = _tables(record.run_dir)
    slow = finding(summary, "slow-replacement")
    (fault,) = summary.recovery
    (replacement,) = fault.replacements
    mine = events.loc[events["name"] == replacement]
    running = int(mine.loc[mine["kind"] == "pod_running", "ts_ns"].min())
    ready = int(mine.loc[mine["kind"] == "pod_ready", "ts_ns"].min())
    assert slow.evidence.measured["readiness_max_s"] == pytest.approx((ready - running) / 1e9, abs=1e-6)
    assert slow.evidence.measured["readiness_max_s"] >= 8.0  # initialDelaySeconds
    assert slow.evidence.measured["probe_floor_s"] == 8.0
    assert slow.evidence.pods == (replacement,) and slow.evidence.faults == (fault.name,)
    assert not summary.verdict.passed
    assert [c.passed for c in summary.verdict.checks if c.slo == "recovery"] == [False]

    fixed, _ = run(with_change(spec, slow, tmp_path), tmp_path / "after")
    assert "slow-replacement" not in rules(fixed)
    assert [c.passed for c in fixed.verdict.checks if c.slo == "recovery"] == [True]


TWO_NODES = LocalClusterConfig(nodes=2)


def _no_outage(run_dir: Path, end_ns: int) -> None:
    requests, events = _tables(run_dir)
    assert dark_windows(events, "duo", end_ns) == []
    assert failed(requests, ["refused"]).empty


def test_maintenance_without_budget_or_spread_then_with_each(tmp_path: Path) -> None:
    spec = experiment("maintenance")
    summary, record = run(spec, tmp_path / "before", config=TWO_NODES)
    requests, events = _tables(record.run_dir)
    dark = [(begin, end - 1) for begin, end in dark_windows(events, "duo", summary.phases[-1].end_ns)]
    assert dark, "the second drain took both replicas at once: the Service had no endpoint for a while"
    outage = started_in(requests, dark)
    assert len(outage) > 0 and set(outage["outcome"].astype(str)) == {"refused"}  # a Service without endpoints
    drain = finding(summary, "drain-unprotected")
    together = finding(summary, "replicas-colocated")
    for found in (drain, together):
        assert found.evidence.failures == len(outage)
        assert found.evidence.faults == ("second-node#1",)
        assert len(found.evidence.pods) == 2
    assert drain.evidence.measured["ready_lowest"] == 0.0
    assert together.evidence.measured == {"replicas_on_node": 2.0, "replicas": 2.0, "nodes": 2.0}
    assert any("while node-1 was cordoned" in line for line in together.evidence.lines)

    # With either change the Service never runs out of endpoints: the outage, and its failures, are gone.
    budgeted, budgeted_record = run(with_change(spec, drain, tmp_path), tmp_path / "budget", config=TWO_NODES)
    assert "drain-unprotected" not in rules(budgeted)
    assert any("paced by a PodDisruptionBudget" in line for line in budgeted.happenings)
    _no_outage(budgeted_record.run_dir, budgeted.phases[-1].end_ns)

    spread, spread_record = run(with_change(spec, together, tmp_path), tmp_path / "spread", config=TWO_NODES)
    assert not rules(spread) & {"replicas-colocated", "drain-unprotected"}
    _no_outage(spread_record.run_dir, spread.phases[-1].end_ns)
    assert [len(f.victims) for f in spread.recovery] == [1, 1]  # each drain found one replica on its node
