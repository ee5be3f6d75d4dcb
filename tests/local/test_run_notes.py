"""What a run says about what happened: namespaces defaulted as kubectl apply -n, bare Pods not replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.kinds import load_experiment
from tests.local.engine_support import EXPERIMENTS, run

pytestmark = pytest.mark.local


def test_objects_without_a_namespace_run_in_the_target_namespace(tmp_path: Path) -> None:
    manifest = (EXPERIMENTS / "single.manifest.yaml").read_text(encoding="utf-8")
    (tmp_path / "single.manifest.yaml").write_text(manifest.replace(", namespace: chaoskit-test", ""))
    experiment = (EXPERIMENTS / "single.yaml").read_text(encoding="utf-8")
    (tmp_path / "single.yaml").write_text(experiment)
    summary, record = run(load_experiment(tmp_path / "single.yaml"), tmp_path / "runs")
    assert summary.overall("ClusterIP").requests > 0
    assert not [n for n in record.context.notes if n.startswith("verify:")]  # the pod was Ready where expected
    (note,) = [n for n in record.context.notes if n.startswith("namespace defaulted")]
    assert "Deployment single, Service single" in note and "chaoskit-test" in note


def test_a_deleted_bare_pod_is_said_at_once_and_not_waited_for(tmp_path: Path) -> None:
    summary, record = run(load_experiment(EXPERIMENTS / "bare.yaml"), tmp_path)
    notes = record.context.notes
    assert any("bare is a bare Pod (no controller): nothing replaces it" in n for n in notes), notes
    assert not [n for n in notes if n.startswith("verify:")]  # no wait for a pod that is not coming back
    assert not [n for n in notes if "no successor" in n]  # nor for its data check
    assert summary.data == ()


def test_a_drain_paced_by_a_budget_is_said_and_never_breaks_it(tmp_path: Path) -> None:
    summary, record = run(load_experiment(EXPERIMENTS / "drain-budget.yaml"), tmp_path,
                          config=LocalClusterConfig(nodes=2))
    (line,) = [h for h in summary.happenings if "paced by a PodDisruptionBudget" in h]
    assert "PodDisruptionBudget budgeted: 3 healthy, 3 must stay" in line
    report = (record.run_dir / "report.md").read_text()
    assert "## What happened" in report and line in report
    events = record.events
    ready = events[events["kind"] == "pod_ready"]
    # Never fewer than 3 ready: each eviction after the first waited for a replacement to be Ready.
    evictions = events[(events["kind"] == "pod_terminating")]["ts_ns"].sort_values().tolist()
    assert len(evictions) == 2
    replacements = ready[ready["ts_ns"] > evictions[0]]["ts_ns"]
    assert (replacements < evictions[1]).any()
