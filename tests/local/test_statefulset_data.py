"""The shipped statefulset-data experiment on the embedded cluster: the data-survival matrix (volume x fault x
placement) comes out as Kubernetes guarantees, and a StatefulSet's replacement keeps its name and its claim."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_the_data_matrix_of_the_shipped_experiment(tmp_path: Path) -> None:
    spec = experiment("statefulset-data")
    # Shorter, within ~40 s: the node comes back after 9 s (its pods were evicted after 3 s + 4 s).
    faults = [f.model_dump(by_alias=True) for f in spec.faults]
    faults[-1]["duration"] = 9.0
    spec = experiment("statefulset-data", faults=faults).with_overrides(baseline=1.0, chaos=28.0, recovery=2.0)
    summary, record = run(spec, tmp_path)
    cells = {(d.volume_type, d.fault, d.placement): d.survived for d in summary.data}
    assert len(summary.data) == 15, record.context.notes
    for (volume_type, fault, placement), survived in cells.items():
        assert survived == GUARANTEED[(volume_type, placement)], (volume_type, fault, placement)
    placements = {(fault, placement) for _, fault, placement in cells}
    assert placements >= {("container-restart", "same-pod"), ("pod-delete", "same-node"), ("pod-kill", "same-node"),
                          ("node-drain", "other-node")}
    for check in summary.data:  # StatefulSet identity: the same name and the same claim
        assert check.replacement == check.victim
        if check.volume_type == "persistentVolumeClaim":
            assert check.replacement_claim == check.victim_claim == f"data-{check.victim}"
    assert all(d.as_expected for d in summary.data)
    kinds = list(record.events["kind"])
    assert kinds.index("node_not_ready") < len(kinds) - 1 - kinds[::-1].index("node_ready")
