"""Recovery clocks and failure attribution on hand-built event timelines."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from chaoskit.analysis.frames import prepare, run_end_ns
from chaoskit.analysis.recovery import (
    ENDPOINTS_CONVERGED,
    LAST_FAILURE,
    REPLACEMENT_READY,
    REPLACEMENT_SCHEDULED,
    TRAFFIC_RECOVERED,
    FaultRecovery,
    recovery,
)
from chaoskit.analysis.synthetic import T0_NS, events_frame, requests_from
from chaoskit.analysis.timeline import read_timeline
from chaoskit.analysis.windows import failure_runs
from chaoskit.cluster.protocol import ClusterEvent, EventKind

pytestmark = pytest.mark.unit
MS = 1_000_000
K = EventKind
NODE1, NODE2 = "10.0.0.1:30080 (node-1)", "10.0.0.2:30080 (node-2)"


def ev(at_ms: float, kind: EventKind, **fields: str) -> ClusterEvent:
    return ClusterEvent(T0_NS + int(at_ms * MS), kind, **fields)


def synced(at_ms: float, service: str, ips: str, node: str = "") -> ClusterEvent:
    return ev(at_ms, K.PROXY_SYNCED, service=service, detail=ips, node=node)


def start() -> list[ClusterEvent]:
    """Two ready pods behind two Services, both data paths forwarding to both."""
    return [
        ev(-900, K.POD_ADDED, name="web-5d8f-aaaaa", ip="10.0.0.1", node="n1"),
        ev(-900, K.POD_SCHEDULED, name="web-5d8f-aaaaa", ip="10.0.0.1", node="n1"),
        ev(-800, K.POD_READY, name="web-5d8f-aaaaa", ip="10.0.0.1", node="n1"),
        ev(-900, K.POD_ADDED, name="web-5d8f-bbbbb", ip="10.0.0.2", node="n2"),
        ev(-900, K.POD_SCHEDULED, name="web-5d8f-bbbbb", ip="10.0.0.2", node="n2"),
        ev(-800, K.POD_READY, name="web-5d8f-bbbbb", ip="10.0.0.2", node="n2"),
        ev(-700, K.ENDPOINT_ADDED, name="web-5d8f-aaaaa", ip="10.0.0.1", service="web"),
        synced(-600, "web", "10.0.0.1,10.0.0.2"),
        synced(-600, "web-np", "10.0.0.1,10.0.0.2"),
    ]


def delete(at_ms: float, n: int, pod: str, ip: str) -> ClusterEvent:
    return ev(at_ms, K.FAULT_BEGIN, name=f"pod-delete-0#{n}", ip=ip, detail=f"pod-delete|{pod}")


def run(
    events: list[ClusterEvent],
    fail_at_ms: Sequence[float] = (),
    *,
    ok_at_ms: Sequence[float] = (5000,),
    latency_ms: float | Sequence[float] = 2,
    target: Sequence[str] | None = None,
) -> tuple[tuple[FaultRecovery, ...], int]:
    """Failed requests at ``fail_at_ms``, then successful ones at ``ok_at_ms`` (one address unless
    ``target`` names one per request)."""
    starts = [T0_NS + int(t * MS) for t in [*fail_at_ms, *ok_at_ms]]
    latency = [int(x * MS) for x in latency_ms] if isinstance(latency_ms, Sequence) else int(latency_ms * MS)
    ok = [False] * len(fail_at_ms) + [True] * len(ok_at_ms)
    frame = requests_from(starts, ok, latency_ns=latency, target=target)
    cols = prepare(frame, ())
    return recovery(read_timeline(events_frame(events)), cols, failure_runs(cols, run_end_ns(cols, ())))


def test_pod_delete_clocks_on_a_known_timeline() -> None:
    events = [
        *start(),
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(5, K.POD_ADDED, name="web-5d8f-ccccc"),
        ev(40, K.POD_SCHEDULED, name="web-5d8f-ccccc", node="n1"),
        synced(300, "web", "10.0.0.2"),
        synced(450, "web-np", "10.0.0.2"),
        ev(1200, K.POD_READY, name="web-5d8f-ccccc", ip="10.0.0.3", node="n1"),
        synced(1500, "web", "10.0.0.2,10.0.0.3"),
        synced(1750, "web-np", "10.0.0.2,10.0.0.3"),
        ev(2000, K.FAULT_END, name="pod-delete-0#0"),
    ]
    (fault,), unattributed = run(events, fail_at_ms=[-100, 10, 200, 400], ok_at_ms=[-150, 450, 5000])
    assert fault.kind == "pod-delete"
    assert fault.victims == ("web-5d8f-aaaaa",)
    assert fault.replacements == ("web-5d8f-ccccc",)
    assert fault.replacement_ips == ("10.0.0.3",)
    assert fault.replacement_scheduled_s == 0.04
    assert fault.replacement_ready_s == 1.2
    assert fault.endpoints_converged_s == 1.75  # the later of the two Services' data paths
    assert fault.last_failure_s == 0.4  # the start of the last failed request, not its end
    assert fault.traffic_recovered_s == 0.45  # the next success's start
    assert fault.failures == 3
    assert unattributed == 1
    assert fault.never_recovered == ()
    assert fault.recovery_s == 1.75


def test_a_replacement_that_never_becomes_ready_is_reported_as_never_recovered() -> None:
    events = [
        *start(),
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(5, K.POD_ADDED, name="web-5d8f-ccccc", node="n1"),
        ev(10, K.POD_SCHEDULED, name="web-5d8f-ccccc", node="n1"),
        synced(300, "web", "10.0.0.2"),
        synced(300, "web-np", "10.0.0.2"),
    ]
    (fault,), _ = run(events)
    assert fault.replacement_scheduled_s == 0.01
    assert fault.replacement_ready_s is None
    assert fault.endpoints_converged_s is None
    assert fault.never_recovered == (REPLACEMENT_READY, ENDPOINTS_CONVERGED)
    assert (fault.failures, fault.last_failure_s, fault.traffic_recovered_s) == (0, None, None)
    assert fault.recovery_s is None


def test_data_path_still_sending_to_the_victim_is_not_converged() -> None:
    events = [
        *start(),
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(5, K.POD_ADDED, name="web-5d8f-ccccc", node="n1"),
        ev(800, K.POD_READY, name="web-5d8f-ccccc", ip="10.0.0.3", node="n1"),
        synced(900, "web", "10.0.0.2,10.0.0.3"),
        synced(900, "web-np", "10.0.0.1,10.0.0.2,10.0.0.3"),  # stale: still has the victim
        synced(2500, "web-np", "10.0.0.2,10.0.0.3"),
    ]
    (fault,), _ = run(events)
    assert fault.endpoints_converged_s == 2.5


def _two_deletes() -> list[ClusterEvent]:
    return [
        *start(),
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(5, K.POD_ADDED, name="web-5d8f-ccccc", node="n1"),
        ev(500, K.POD_READY, name="web-5d8f-ccccc", ip="10.0.0.3", node="n1"),
        delete(1000, 1, "web-5d8f-bbbbb", "10.0.0.2"),
        ev(1005, K.POD_ADDED, name="web-5d8f-ddddd", node="n2"),
        ev(1700, K.POD_READY, name="web-5d8f-ddddd", ip="10.0.0.4", node="n2"),
    ]


def test_a_failure_belongs_to_the_fault_in_force_when_it_failed() -> None:
    # Failed at 100 and 200 ms (fault #0); started 1 ms before fault #1 and reset by it 80 ms later: #1's.
    fail_at, latency = [-50.0, 100, 200, 999, 1300], [2, 2, 2, 80, 2]
    (first, second), before_any = run(_two_deletes(), fail_at_ms=fail_at, ok_at_ms=[210, 1310, 5000],
                                      latency_ms=[*latency, 2, 2, 2])  # fmt: skip
    assert (first.failures, second.failures, before_any) == (2, 2, 1)
    assert first.failures + second.failures + before_any == len(fail_at)
    assert first.last_failure_s == 0.2  # not 0.999: that request failed under fault #1
    assert first.traffic_recovered_s == 0.21
    assert second.last_failure_s == 0.3
    assert second.traffic_recovered_s == 0.31
    # Each new pod recovers exactly one fault: ddddd came after the second fault, so it is not the first's.
    assert first.replacements == ("web-5d8f-ccccc",)
    assert second.replacements == ("web-5d8f-ddddd",)
    assert (first.replacement_ready_s, second.replacement_ready_s) == (0.5, 0.7)


def test_a_failure_started_just_before_the_first_fault_and_failing_after_it_is_that_faults() -> None:
    (fault,), before_any = run(_two_deletes()[:-4], fail_at_ms=[-1], ok_at_ms=[20], latency_ms=[80, 2])
    assert (fault.failures, before_any) == (1, 0)
    assert fault.last_failure_s == 0.0  # it started before the instant: the clock does not go negative
    assert fault.traffic_recovered_s == 0.02


def test_a_failure_completing_before_the_first_fault_is_before_any_fault() -> None:
    (fault,), before_any = run(_two_deletes()[:-4], fail_at_ms=[-10], ok_at_ms=[20], latency_ms=[2, 2])
    assert (fault.failures, before_any) == (0, 1)
    assert fault.last_failure_s is None


def test_an_address_failing_until_the_end_never_recovered() -> None:
    # The NodePort of node-2 has no local pod after the fault and fails to the end; node-1's recovers.
    fails = [(NODE1, 100), (NODE2, 100), (NODE2, 3_000), (NODE2, 4_900)]
    oks = [(NODE1, 150), (NODE1, 5_000)]
    (fault,), _ = run(_two_deletes()[:-4], fail_at_ms=[t for _, t in fails], ok_at_ms=[t for _, t in oks],
                      target=[a for a, _ in fails + oks])  # fmt: skip
    assert fault.last_failure_s == 4.9
    assert fault.traffic_recovered_s is None
    assert TRAFFIC_RECOVERED in fault.never_recovered
    assert fault.failed_addresses == (NODE1, NODE2)
    assert fault.unrecovered_addresses == (NODE2,)
    assert fault.recovery_s is None  # a clock that never stopped is no number: the recovery SLO fails


def test_traffic_recovered_is_the_latest_address_back() -> None:
    fails = [(NODE1, 100), (NODE2, 100), (NODE2, 900)]
    oks = [(NODE1, 150), (NODE2, 1_250), (NODE1, 1_300)]
    (fault,), _ = run(_two_deletes()[:-4], fail_at_ms=[t for _, t in fails], ok_at_ms=[t for _, t in oks],
                      target=[a for a, _ in fails + oks])  # fmt: skip
    assert (fault.last_failure_s, fault.traffic_recovered_s) == (0.9, 1.25)
    assert fault.unrecovered_addresses == ()


def test_container_restart_recovers_when_the_victim_is_ready_and_routed_again() -> None:
    pod, ip = "web-5d8f-aaaaa", "10.0.0.1"
    events = [
        *start(),
        ev(0, K.FAULT_BEGIN, name="container-restart-0#0", ip=ip, detail=f"container-restart|{pod}"),
        ev(50, K.POD_NOT_READY, name=pod, ip=ip),
        synced(200, "web", "10.0.0.2"),
        synced(200, "web-np", "10.0.0.2"),
        ev(900, K.CONTAINER_RESTARTED, name=pod, ip=ip),
        ev(1400, K.POD_READY, name=pod, ip=ip),
        synced(1600, "web", "10.0.0.1,10.0.0.2"),
        synced(1650, "web-np", "10.0.0.1,10.0.0.2"),
    ]
    (fault,), _ = run(events, fail_at_ms=[20, 150], ok_at_ms=[180, 5000])
    assert fault.replacements == ()
    assert fault.replacement_ready_s == 1.4
    assert fault.endpoints_converged_s == 1.65
    assert fault.last_failure_s == 0.15
    assert fault.traffic_recovered_s == 0.18
    assert fault.unobserved == (REPLACEMENT_SCHEDULED,)  # restarted in place: nothing is rescheduled


def test_without_any_endpoint_events_the_endpoint_clock_is_unobserved_not_never() -> None:
    events = [e for e in start() if e.kind not in (K.PROXY_SYNCED, K.ENDPOINT_ADDED)] + [
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(5, K.POD_ADDED, name="web-5d8f-ccccc", node="n1"),
        ev(5, K.POD_SCHEDULED, name="web-5d8f-ccccc", node="n1"),
        ev(900, K.POD_READY, name="web-5d8f-ccccc", ip="10.0.0.3", node="n1"),
    ]
    (fault,), _ = run(events)
    assert fault.replacement_ready_s == 0.9
    assert fault.endpoints_converged_s is None
    assert fault.unobserved == (ENDPOINTS_CONVERGED,)
    assert fault.never_recovered == ()
    assert fault.endpoints_source == ""


def test_without_data_path_syncs_the_control_plane_endpoints_stand_in() -> None:
    # The kube backend cannot see kube-proxy: it reports EndpointSlice changes only.
    events = [
        *[e for e in start() if e.kind != K.PROXY_SYNCED],
        ev(-700, K.ENDPOINT_ADDED, name="web-5d8f-bbbbb", ip="10.0.0.2", service="web"),
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(5, K.POD_ADDED, name="web-5d8f-ccccc", node="n1"),
        ev(5, K.POD_SCHEDULED, name="web-5d8f-ccccc", node="n1"),
        ev(20, K.ENDPOINT_REMOVED, name="web-5d8f-aaaaa", ip="10.0.0.1", service="web"),
        ev(900, K.POD_READY, name="web-5d8f-ccccc", ip="10.0.0.3", node="n1"),
        ev(950, K.ENDPOINT_ADDED, name="web-5d8f-ccccc", ip="10.0.0.3", service="web"),
    ]
    (fault,), _ = run(events)
    assert fault.endpoints_source == "control-plane"
    assert fault.endpoints_converged_s == 0.95
    assert fault.never_recovered == ()
    # Without the endpoints that were ready before the subscription, no Service seems to route to the
    # victim, and the clock has nothing to measure: why the backends report them at the start.
    unseeded = [e for e in events if not (e.kind is K.ENDPOINT_ADDED and e.ts_ns < T0_NS)]
    (blind,), _ = run(unseeded)
    assert blind.endpoints_converged_s is None and ENDPOINTS_CONVERGED in blind.unobserved


def test_per_node_listeners_converge_when_together_they_reach_the_replacement() -> None:
    # externalTrafficPolicy Local: each node's listener only forwards to pods on that node.
    events = [
        *start()[:4],
        synced(-600, "web-np", "10.0.0.1", node="n1"),
        synced(-600, "web-np", "10.0.0.2", node="n2"),
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(5, K.POD_ADDED, name="web-5d8f-ccccc", node="n2"),
        synced(300, "web-np", "", node="n1"),
        ev(1000, K.POD_READY, name="web-5d8f-ccccc", ip="10.0.0.3", node="n2"),
        synced(1300, "web-np", "10.0.0.2,10.0.0.3", node="n2"),
    ]
    (fault,), _ = run(events)
    assert fault.endpoints_converged_s == 1.3


def test_fault_instance_is_its_earliest_begin_and_lists_every_victim() -> None:
    events = [
        *start(),
        ev(0, K.FAULT_BEGIN, name="node-drain-0#0", ip="10.0.0.1", detail="node-drain|web-5d8f-aaaaa"),
        ev(40, K.FAULT_BEGIN, name="node-drain-0#0", ip="10.0.0.2", detail="node-drain|web-5d8f-bbbbb"),
        ev(100, K.POD_ADDED, name="web-5d8f-ccccc", node="n3"),
        ev(100, K.POD_ADDED, name="web-5d8f-ddddd", node="n3"),
        ev(700, K.POD_READY, name="web-5d8f-ccccc", ip="10.0.0.3", node="n3"),
        ev(1100, K.POD_READY, name="web-5d8f-ddddd", ip="10.0.0.4", node="n3"),
    ]
    (fault,), _ = run(events)
    assert fault.replacement_scheduled_s is None
    assert fault.kind == "node-drain"
    assert fault.begin_ns == T0_NS
    assert fault.victims == ("web-5d8f-aaaaa", "web-5d8f-bbbbb")
    assert fault.replacement_ready_s == 1.1  # both replacements needed
    assert set(fault.replacements) == {"web-5d8f-ccccc", "web-5d8f-ddddd"}
    assert LAST_FAILURE not in fault.never_recovered


def test_a_pod_recreated_under_its_own_name_is_its_replacement() -> None:
    # StatefulSet pods come back with the same name (and a new IP).
    events = [
        *start(),
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(400, K.POD_DELETED, name="web-5d8f-aaaaa", ip="10.0.0.1"),
        ev(450, K.POD_ADDED, name="web-5d8f-aaaaa", node="n1"),
        ev(1500, K.POD_READY, name="web-5d8f-aaaaa", ip="10.0.0.7", node="n1"),
        synced(1600, "web", "10.0.0.2,10.0.0.7"),
        synced(1600, "web-np", "10.0.0.2,10.0.0.7"),
    ]
    (fault,), _ = run(events)
    assert fault.replacements == ("web-5d8f-aaaaa",)
    assert fault.replacement_ready_s == 1.5
    assert fault.endpoints_converged_s == 1.6


def test_an_old_pod_announced_again_is_not_a_replacement() -> None:
    # A watch re-list re-announces bbbbb after the fault; it existed before, so it replaces nothing.
    events = [
        *start(),
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(100, K.POD_ADDED, name="web-5d8f-bbbbb", ip="10.0.0.2", node="n2"),
        ev(100, K.POD_READY, name="web-5d8f-bbbbb", ip="10.0.0.2", node="n2"),
    ]
    (fault,), _ = run(events)
    assert fault.replacements == ()
    assert fault.never_recovered == (REPLACEMENT_SCHEDULED, REPLACEMENT_READY, ENDPOINTS_CONVERGED)


def test_without_any_pod_scheduled_event_the_scheduling_clock_is_unobserved_not_never() -> None:
    events = [e for e in start() if e.kind is not K.POD_SCHEDULED] + [
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(5, K.POD_ADDED, name="web-5d8f-ccccc", node="n1"),
        ev(900, K.POD_READY, name="web-5d8f-ccccc", ip="10.0.0.3", node="n1"),
    ]
    (fault,), _ = run(events)
    assert REPLACEMENT_SCHEDULED in fault.unobserved
    assert REPLACEMENT_SCHEDULED not in fault.never_recovered


def test_a_pod_replaced_twice_under_one_name_keeps_each_replacements_ip() -> None:
    # A StatefulSet pod deleted twice: each fault's replacement is its own incarnation with its own IP.
    events = [
        *start(),
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(400, K.POD_DELETED, name="web-5d8f-aaaaa", ip="10.0.0.1"),
        ev(450, K.POD_ADDED, name="web-5d8f-aaaaa", node="n1"),
        ev(1500, K.POD_READY, name="web-5d8f-aaaaa", ip="10.0.0.7", node="n1"),
        synced(1600, "web", "10.0.0.2,10.0.0.7"),
        synced(1600, "web-np", "10.0.0.2,10.0.0.7"),
        delete(3000, 1, "web-5d8f-aaaaa", "10.0.0.7"),
        ev(3400, K.POD_DELETED, name="web-5d8f-aaaaa", ip="10.0.0.7"),
        ev(3450, K.POD_ADDED, name="web-5d8f-aaaaa", node="n1"),
        ev(4200, K.POD_READY, name="web-5d8f-aaaaa", ip="10.0.0.9", node="n1"),
        synced(4300, "web", "10.0.0.2,10.0.0.9"),
        synced(4300, "web-np", "10.0.0.2,10.0.0.9"),
    ]
    first, second = run(events, ok_at_ms=(6000,))[0]
    assert first.replacement_ips == ("10.0.0.7",) and first.endpoints_converged_s == 1.6
    assert second.replacement_ips == ("10.0.0.9",) and second.endpoints_converged_s == 1.3


def test_a_headless_service_without_a_data_path_does_not_hold_convergence_back() -> None:
    events = [
        *start(),
        ev(-700, K.ENDPOINT_ADDED, name="web-5d8f-aaaaa", ip="10.0.0.1", service="web-headless"),
        delete(0, 0, "web-5d8f-aaaaa", "10.0.0.1"),
        ev(5, K.POD_ADDED, name="web-5d8f-ccccc", node="n1"),
        ev(900, K.POD_READY, name="web-5d8f-ccccc", ip="10.0.0.3", node="n1"),
        synced(1000, "web", "10.0.0.2,10.0.0.3"),
        synced(1000, "web-np", "10.0.0.2,10.0.0.3"),
    ]
    (fault,), _ = run(events)
    assert fault.endpoints_converged_s == 1.0 and ENDPOINTS_CONVERGED not in fault.never_recovered


def test_a_container_restart_of_a_pod_replaced_later_under_its_name_is_timed_on_the_restarted_pod() -> None:
    # A StatefulSet pod restarted in place, then deleted and re-created under the same name: the restart's
    # clocks belong to the incarnation that was restarted, not to the one alive at the end of the run.
    pod, ip = "web-0", "10.0.0.1"
    events = [
        *start(),
        ev(0, K.FAULT_BEGIN, name="container-restart-0#0", ip=ip, detail=f"container-restart|{pod}"),
        synced(200, "web", "10.0.0.2"),
        synced(200, "web-np", "10.0.0.2"),
        ev(900, K.CONTAINER_RESTARTED, name=pod, ip=ip),
        ev(1400, K.POD_READY, name=pod, ip=ip),
        synced(1600, "web", "10.0.0.1,10.0.0.2"),
        synced(1650, "web-np", "10.0.0.1,10.0.0.2"),
        ev(3000, K.FAULT_BEGIN, name="pod-delete-1#0", ip=ip, detail=f"pod-delete|{pod}"),
        ev(3400, K.POD_DELETED, name=pod, ip=ip),
        ev(3450, K.POD_ADDED, name=pod, node="n1"),
        ev(4200, K.POD_READY, name=pod, ip="10.0.0.9", node="n1"),
    ]
    (restart, _), _ = run(events, ok_at_ms=(6000,))
    assert restart.replacement_ready_s == 1.4
    assert restart.endpoints_converged_s == 1.65
    assert restart.never_recovered == ()
