"""The shipped StatefulSet experiments on the embedded cluster: the data-survival matrix (volume x fault x
placement) comes out as Kubernetes guarantees, and a StatefulSet's replacement keeps its name and its claim."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.analysis.summary import RunSummary
from tests.local.engine_support import experiment, run

pytestmark = [pytest.mark.local, pytest.mark.slow]

GUARANTEED = {
    # (volume type, placement) -> survives? What Kubernetes promises (docs/expectations.md).
    ("persistentVolumeClaim", "same-pod"): True,
    ("persistentVolumeClaim", "same-node"): True,
    ("persistentVolumeClaim", "other-node"): True,  # network storage: the embedded cluster's default class
    ("hostPath", "same-pod"): True,
    ("hostPath", "same-node"): True,
    ("hostPath", "other-node"): False,
    ("emptyDir", "same-pod"): True,
    ("emptyDir", "same-node"): False,
    ("emptyDir", "other-node"): False,
}


def _as_guaranteed(summary: RunSummary) -> set[tuple[str, str]]:
    """Check every cell against the guarantees and the StatefulSet identity; returns the (fault, placement)s."""
    for check in summary.data:
        assert check.survived == GUARANTEED[(check.volume_type, check.placement)], check
        assert check.as_expected
        assert check.replacement == check.victim  # the same name ...
        if check.volume_type == "persistentVolumeClaim":  # ... and the same claim
            assert check.replacement_claim == check.victim_claim == f"data-{check.victim}"
    return {(d.fault, d.placement) for d in summary.data}


def test_the_data_matrix_of_statefulset_data(tmp_path: Path) -> None:
    spec = experiment("statefulset-data", baseline=1.0, chaos=18.0, recovery=2.0)
    summary, record = run(spec, tmp_path)
    assert len(summary.data) == 12, record.context.notes
    assert _as_guaranteed(summary) == {("container-restart", "same-pod"), ("pod-delete", "same-node"),
                                       ("pod-kill", "same-node"), ("node-drain", "other-node")}
    assert summary.verdict.passed, summary.verdict.reasons


def test_the_data_matrix_of_statefulset_node_failure(tmp_path: Path) -> None:
    spec = experiment("statefulset-node-failure")
    faults = [f.model_dump(by_alias=True) for f in spec.faults]
    faults[0]["duration"] = 9.0  # evicted after 3 s + 4 s; back after 9 s
    spec = experiment("statefulset-node-failure", faults=faults).with_overrides(baseline=1.0, chaos=10.0,
                                                                                  recovery=2.0)
    summary, record = run(spec, tmp_path)
    assert len(summary.data) == 3, record.context.notes
    assert _as_guaranteed(summary) == {("node-failure", "same-node")}
    kinds = list(record.events["kind"])
    assert kinds.index("node_not_ready") < len(kinds) - 1 - kinds[::-1].index("node_ready")
    (power_off,) = summary.recovery
    assert power_off.failures > 0 and power_off.replacement_ready_s is not None
