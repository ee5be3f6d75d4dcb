"""What a run says about what happened: namespaces defaulted as kubectl apply -n, bare Pods not replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

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
