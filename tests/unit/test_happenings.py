"""What happened, said from the tables: a drain paced by a budget, a Local-policy NodePort without a ready pod,
hostPath data read on another node."""

from __future__ import annotations

import pytest

from chaoskit.analysis.evidence import AddressFacts
from chaoskit.analysis.frames import PhaseSpan
from chaoskit.analysis.happenings import local_policy_drops, paced_drains, shared_host_paths
from chaoskit.analysis.synthetic import events_frame, requests_from
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


def _pod_events() -> list[ClusterEvent]:
    return [ClusterEvent(T0, EventKind.POD_READY, name="web-a", node="n2"),
            ClusterEvent(T0, EventKind.POD_READY, name="chaoskit-load-agent-x", node="n2"),
            ClusterEvent(T0 + 5 * S, EventKind.POD_TERMINATING, name="web-a", node="n2"),
            ClusterEvent(T0 + 9 * S, EventKind.POD_READY, name="web-c", node="n2")]


def test_failures_on_a_local_policy_node_without_a_ready_pod_are_explained() -> None:
    starts = [T0 + k * S // 2 for k in range(24)]  # every 0.5 s for 12 s
    ok = [not (5 * S <= s - T0 < 9 * S) for s in starts]
    requests = requests_from(starts, ok, target="10.0.0.2:30080 (n2)", service_type="NodePort")
    address = AddressFacts("web", "NodePort", "10.0.0.2:30080 (n2)", node="n2", traffic_local=True)
    (line,) = local_policy_drops(events_frame(_pod_events()), requests, [address], T0)
    assert line.startswith("NodePort 10.0.0.2:30080 (n2) failed 8 time(s) between t+5.000 s and t+8.500 s while n2 "
                           "had no ready pod")
    cluster_policy = AddressFacts("web", "NodePort", "10.0.0.2:30080 (n2)", node="n2", traffic_local=False)
    assert local_policy_drops(events_frame(_pod_events()), requests, [cluster_policy], T0) == []


def test_a_hostpath_marker_read_on_another_node_means_the_path_is_shared() -> None:
    row = DataCheckResult(volume="node-data", volume_type="hostPath", fault="node-drain", trigger="pod-replaced",
                          placement="other-node", survived=True, expected="lost", victim="a", replacement="b",
                          victim_node="n1", replacement_node="n2")
    (line,) = shared_host_paths([row, row])
    assert line.startswith("hostPath volume node-data: a marker written on n1 was read on n2")


def test_phase_origin_is_the_first_phase() -> None:
    assert PhaseSpan("baseline", T0, T0 + S).begin_ns == T0
