"""Event translation and object conversion of the kube backend, on recorded API objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cluster.kube.translate import (
    endpoint_events,
    node_events,
    node_info,
    parse_time,
    pod_events,
    pod_info,
    ready_endpoints,
    slice_trigger_time,
)
from chaoskit.cluster.protocol import EventKind, PodPhase

pytestmark = pytest.mark.unit
RECORDED = Path(__file__).parents[1] / "kube" / "recorded"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return data


PODS = load("pod_lifecycle.json")
TS = 1_700_000_000_000_000_000


def kinds(old: Any, new: Any) -> list[EventKind]:
    return [e.kind for e in pod_events(old, new, ts_ns=TS)]


def test_parse_time_seconds_and_fraction() -> None:
    assert parse_time("2026-11-27T01:00:00Z") == 1795741200 * 1_000_000_000
    assert parse_time("2026-11-27T01:00:00.123456Z") == 1795741200 * 1_000_000_000 + 123_456_000
    assert parse_time("garbage") is None
    assert parse_time(None) is None


def test_pod_added_while_pending_emits_only_added() -> None:
    events = pod_events(None, PODS["pending"], ts_ns=TS)
    assert [e.kind for e in events] == [EventKind.POD_ADDED]
    assert events[0].ts_ns == TS
    assert events[0].source_ts_ns == parse_time("2026-11-27T01:00:00Z")
    assert events[0].name == "chaoskit-target-7d4b9c8f5-x2k9p"


def test_lifecycle_sequence() -> None:
    assert kinds(PODS["pending"], PODS["scheduled"]) == [EventKind.POD_SCHEDULED]
    assert kinds(PODS["scheduled"], PODS["running"]) == [EventKind.POD_RUNNING]
    assert kinds(PODS["running"], PODS["ready"]) == [EventKind.POD_READY]
    assert kinds(PODS["ready"], PODS["died"]) == [EventKind.CONTAINER_DIED, EventKind.POD_NOT_READY]
    assert kinds(PODS["died"], PODS["restarted"]) == [EventKind.CONTAINER_RESTARTED]
    assert kinds(PODS["restarted"], PODS["ready2"]) == [EventKind.POD_READY]
    assert kinds(PODS["ready2"], PODS["terminating"]) == [EventKind.POD_TERMINATING]
    assert kinds(PODS["terminating"], None) == [EventKind.POD_DELETED]


def test_death_and_restart_seen_in_one_update_are_both_reported_once() -> None:
    # The kubelet restarted the container before the watch delivered the 'terminated' state.
    events = pod_events(PODS["ready"], PODS["ready2"], ts_ns=TS)
    assert [e.kind for e in events] == [EventKind.CONTAINER_DIED, EventKind.CONTAINER_RESTARTED]
    died, restarted = events
    assert died.detail.startswith("httpd exit=0")
    assert died.source_ts_ns == parse_time("2026-11-27T01:01:00Z")
    assert restarted.source_ts_ns == parse_time("2026-11-27T01:01:01Z")
    # ...and the next update (same last termination) does not repeat the death.
    assert EventKind.CONTAINER_DIED not in kinds(PODS["ready2"], PODS["terminating"])


def test_event_fields_carry_node_ip_and_api_timestamps() -> None:
    (ready,) = pod_events(PODS["running"], PODS["ready"], ts_ns=TS)
    assert (ready.namespace, ready.node, ready.ip) == ("chaoskit-demo", "tb-node", "10.88.0.12")
    assert ready.source_ts_ns == parse_time("2026-11-27T01:00:03Z")
    (term,) = pod_events(PODS["ready2"], PODS["terminating"], ts_ns=TS)
    # deletionTimestamp is the end of the grace period; the request came grace seconds earlier.
    assert term.source_ts_ns == parse_time("2026-11-27T01:02:00Z")
    assert term.detail == "grace=30s"


def test_pod_info_fields() -> None:
    info = pod_info(PODS["ready2"])
    assert info.phase is PodPhase.RUNNING and info.ready and not info.terminating
    assert info.owner == "chaoskit-target"
    assert info.restart_count == 1
    assert info.containers[0].mounts["scratch"] == "/usr/local/apache2/htdocs/scratch"
    assert info.volumes["scratch"] == "emptyDir" and info.volumes["node-data"] == "hostPath"
    assert pod_info(PODS["terminating"]).terminating
    assert pod_info(PODS["pending"]).ip is None and pod_info(PODS["pending"]).node is None


def test_node_events_ready_and_cordon() -> None:
    nodes = load("nodes.json")
    assert node_events(None, nodes["ready"], ts_ns=TS) == []
    (cordon,) = node_events(nodes["ready"], nodes["cordoned"], ts_ns=TS)
    assert cordon.kind is EventKind.NODE_CORDONED and cordon.node == "tb-node"
    (down,) = node_events(nodes["cordoned"], nodes["notready"], ts_ns=TS)
    assert down.kind is EventKind.NODE_NOT_READY
    assert down.source_ts_ns == parse_time("2026-11-27T01:05:00Z")
    back = node_events(nodes["notready"], nodes["ready"], ts_ns=TS)
    assert [e.kind for e in back] == [EventKind.NODE_READY, EventKind.NODE_UNCORDONED]
    assert node_info(nodes["cordoned"], types=("InternalIP",)).schedulable is False


def test_endpoint_events_follow_ready_conditions() -> None:
    slices = load("endpointslices.json")
    before = ready_endpoints(slices["three_ready"])
    assert sorted(before) == ["10.88.0.12", "10.88.0.13", "10.88.0.14"]
    after = ready_endpoints(slices["one_terminating"])
    (removed,) = endpoint_events("chaoskit-demo", "chaoskit-target", before, after, ts_ns=TS,
                                 source_ts_ns=slice_trigger_time(slices["one_terminating"]))
    assert removed.kind is EventKind.ENDPOINT_REMOVED
    assert (removed.name, removed.ip, removed.service) == ("pod-a", "10.88.0.12", "chaoskit-target")
    assert removed.source_ts_ns == parse_time("2026-11-27T01:02:00Z")
    (added,) = endpoint_events("chaoskit-demo", "chaoskit-target", after,
                               ready_endpoints(slices["replaced"]), ts_ns=TS, source_ts_ns=None)
    assert added.kind is EventKind.ENDPOINT_ADDED and added.name == "pod-d"
    assert slice_trigger_time(slices["replaced"]) == parse_time("2026-11-27T01:02:05Z") + 123_456_000


def test_endpoint_moving_between_slices_is_not_a_change() -> None:
    slices = load("endpointslices.json")
    union_before = {**ready_endpoints(slices["replaced"])}
    union_after = {**ready_endpoints(slices["one_terminating"]), **ready_endpoints(slices["other_slice"])}
    union_after.pop("10.88.0.12", None)
    events = endpoint_events("ns", "svc", union_before, union_after, ts_ns=TS, source_ts_ns=None)
    assert events == []


def test_terminal_phase_of_a_deleted_pod_is_not_a_failure() -> None:
    from chaoskit.cluster.kube.watchers import failing_reason

    failed = json.loads(json.dumps(PODS["terminating"]))
    failed["status"]["phase"] = "Failed"
    assert failing_reason(failed) is None
    del failed["metadata"]["deletionTimestamp"]
    assert failing_reason(failed) is not None and "Failed" in failing_reason(failed)
    pulling = json.loads(json.dumps(PODS["running"]))
    pulling["status"]["containerStatuses"][0]["state"] = {
        "waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}
    assert "ImagePullBackOff" in (failing_reason(pulling) or "")
