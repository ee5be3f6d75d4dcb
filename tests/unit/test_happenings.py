"""What happened, said from the tables: a drain paced by a budget, hostPath data read on another node (a
Local-policy NodePort without a ready pod is a finding: tests/unit/test_findings_*.py)."""

from __future__ import annotations

import pytest

from chaoskit.analysis.frames import PhaseSpan
from chaoskit.analysis.happenings import paced_drains, shared_host_paths
from chaoskit.analysis.synthetic import events_frame
from chaoskit.checks.results import DataCheckResult
from chaoskit.vocab import ClusterEvent, EventKind

pytestmark = pytest.mark.unit
S = 1_000_000_000
T0 = 1_700_000_000 * S


def test_a_drain_paced_by_a_budget_says_how_often_and_how_long() -> None:
    events = events_frame([
        ClusterEvent(T0 + 1 * S, EventKind.POD_TERMINATING, name="web-a", node="n1"),
        ClusterEvent(T0 + 1 * S, EventKind.EVICTION_REFUSED, name="web-b", node="n1", detail="budget web"),
        ClusterEvent(T0 + 2 * S, EventKind.EVICTION_REFUSED, name="web-b", node="n1", detail="budget web"),
        ClusterEvent(T0 + 3 * S, EventKind.POD_TERMINATING, name="web-b", node="n1"),
    ])
    (line,) = paced_drains(events, T0)
    assert line.startswith("drain of n1 was paced by a PodDisruptionBudget: 2 eviction(s) of 1 pod(s) refused")
    assert "from t+1.000 s" in line and "the longest wait was 2.000 s (web-b)" in line


def test_no_refusal_no_line() -> None:
    assert paced_drains(events_frame([ClusterEvent(T0, EventKind.POD_TERMINATING, name="a", node="n1")]), T0) == []


def test_a_hostpath_marker_read_on_another_node_means_the_path_is_shared() -> None:
    row = DataCheckResult(volume="node-data", volume_type="hostPath", fault="node-drain", trigger="pod-replaced",
                          placement="other-node", survived=True, expected="lost", victim="a", replacement="b",
                          victim_node="n1", replacement_node="n2")
    (line,) = shared_host_paths([row, row])
    assert line.startswith("hostPath volume node-data: a marker written on n1 was read on n2")


def test_phase_origin_is_the_first_phase() -> None:
    assert PhaseSpan("baseline", T0, T0 + S).begin_ns == T0
