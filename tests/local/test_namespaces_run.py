"""Manifests without metadata.namespace run in target.namespace on the embedded cluster, and the run says so."""

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
