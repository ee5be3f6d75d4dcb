"""Kube: what existed before the watch is reported (recorded API objects), and the event bus hands the
current state to a subscription made later, so a Deployment that predates the run still has endpoints."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cluster.events import EventBus
from chaoskit.cluster.kube.translate import initial_endpoint_events, initial_pod_events
from chaoskit.cluster.kube.watchers import Watchers
from chaoskit.cluster.protocol import ClusterEvent, EventKind

pytestmark = pytest.mark.unit
RECORDED = Path(__file__).parents[1] / "kube" / "recorded"
SLICES = json.loads((RECORDED / "endpointslices.json").read_text())
PODS = json.loads((RECORDED / "pod_lifecycle.json").read_text())
NS = "chaoskit-demo"
TS = 1_700_000_000_000_000_000


def test_initial_list_reports_every_ready_endpoint_once_stamped_at_the_list() -> None:
    events = initial_endpoint_events(NS, [SLICES["one_terminating"], SLICES["other_slice"]], ts_ns=TS)
    assert [(e.kind, e.ip, e.name, e.service) for e in events] == [
        (EventKind.ENDPOINT_ADDED, "10.88.0.13", "pod-b", "chaoskit-target"),
        (EventKind.ENDPOINT_ADDED, "10.88.0.14", "pod-c", "chaoskit-target"),
        (EventKind.ENDPOINT_ADDED, "10.88.0.15", "pod-d", "chaoskit-target"),
    ]  # the terminating pod-a is not ready: not an endpoint
    assert {e.ts_ns for e in events} == {TS} and {e.namespace for e in events} == {NS}


def test_initial_list_reports_a_ready_pod_as_added_scheduled_running_and_ready() -> None:
    events = initial_pod_events([PODS["ready"], PODS["pending"]], ts_ns=TS)
    ready = [e.kind for e in events if e.ip == "10.88.0.12"]
    assert ready == [EventKind.POD_ADDED, EventKind.POD_SCHEDULED, EventKind.POD_RUNNING, EventKind.POD_READY]
    assert [e.kind for e in events if e.ip != "10.88.0.12"] == [EventKind.POD_ADDED]
    assert {e.ts_ns for e in events} == {TS}


class _Stream:
    """A watch that stays open, sending nothing, until shut down (as urllib3's response would)."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        self.closed.wait(10)
        return iter(())

    def shutdown(self) -> None:
        self.closed.set()

    def close(self) -> None:
        self.closed.set()


class _RecordedApi:
    """Answers the first list of each collection with recorded objects; watches stay quiet."""

    timeout_s = 5.0

    def __init__(self) -> None:
        self.lists = {"pods": [PODS["ready"]], "endpointslices": [SLICES["three_ready"]]}

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        return {"items": self.lists[path.rsplit("/", 1)[-1]], "metadata": {"resourceVersion": "7"}}

    def open_stream(self, path: str, **_: Any) -> _Stream:
        return _Stream()


class _Hub:
    def __init__(self) -> None:
        self.events: list[ClusterEvent] = []
        self.lock = threading.Lock()

    def publish_threadsafe(self, events: list[ClusterEvent]) -> None:
        with self.lock:
            self.events.extend(events)


class _Quiet:
    def notify_threadsafe(self) -> None:
        pass


def test_watching_a_namespace_reports_what_was_there_at_the_first_list() -> None:
    hub = _Hub()
    watchers = Watchers(_RecordedApi(), hub, _Quiet(), window_s=5)  # type: ignore[arg-type]
    before = time.time_ns()
    try:
        watchers.ensure_namespace(NS)
    finally:
        watchers.stop()
    assert watchers.ready_ips(NS, "chaoskit-target") == {"10.88.0.12", "10.88.0.13", "10.88.0.14"}
    with hub.lock:
        seen = list(hub.events)
    added = sorted(e.ip for e in seen if e.kind is EventKind.ENDPOINT_ADDED)
    assert added == ["10.88.0.12", "10.88.0.13", "10.88.0.14"]
    assert any(e.kind is EventKind.POD_READY and e.name == "chaoskit-target-7d4b9c8f5-x2k9p" for e in seen)
    assert all(before <= e.ts_ns <= time.time_ns() for e in seen)


def test_a_later_subscription_starts_with_the_current_state() -> None:
    async def scenario() -> tuple[list[ClusterEvent], list[ClusterEvent]]:
        bus = EventBus()
        for event in initial_pod_events([PODS["ready"]], ts_ns=TS):
            bus.publish(event)
        for event in initial_endpoint_events(NS, [SLICES["three_ready"]], ts_ns=TS):
            bus.publish(event)
        bus.publish(ClusterEvent(TS + 1, EventKind.ENDPOINT_REMOVED, namespace=NS, ip="10.88.0.12",
                                 service="chaoskit-target"))  # fmt: skip
        bus.publish(ClusterEvent(TS + 2, EventKind.FAULT_BEGIN, name="pod-delete-0#0"))
        later = bus.subscribe().drain()
        bus.publish(ClusterEvent(TS + 3, EventKind.POD_DELETED, namespace=NS, name="chaoskit-target-7d4b9c8f5-x2k9p"))
        return later, bus.subscribe().drain()

    later, after_delete = asyncio.run(scenario())
    assert sorted(e.ip for e in later if e.kind is EventKind.ENDPOINT_ADDED) == ["10.88.0.13", "10.88.0.14"]
    assert [e.kind for e in later if e.kind.name.startswith("POD_")] == [
        EventKind.POD_ADDED, EventKind.POD_SCHEDULED, EventKind.POD_RUNNING, EventKind.POD_READY]  # fmt: skip
    assert all(e.ts_ns == TS for e in later)  # their own stamps, not the subscription's
    assert not any(e.kind is EventKind.FAULT_BEGIN for e in later)  # run events are never replayed
    assert not any(e.kind.name.startswith("POD_") for e in after_delete)  # a deleted pod is no state
