"""An in-process event bus: a new subscriber first gets the current state, then every event published after.

Why the current state: a run subscribes after the backend started watching, and objects may exist before
(kube: a Deployment already in the namespace; any backend: a subscription made after pods came up). An
analysis that only saw changes would not know that a pod was Ready or that a Service already routed to it.
Like a client-go informer handing its cache to a new handler, the bus hands each new subscription the
events that describe what exists now, with their original timestamps: each live pod's events since it was
added, each ready endpoint's ENDPOINT_ADDED, each listener's last PROXY_SYNCED and each node's last
readiness and cordon events. Run events (phases, faults, markers) are never replayed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator

from chaoskit.cluster.protocol import ClusterEvent, EventKind


class Subscription:
    """Buffers events from the moment it is created (the current state first); iterate it or ``drain()`` it."""

    def __init__(self, bus: EventBus, state: list[ClusterEvent] | None = None) -> None:
        self._bus = bus
        self._buffer: deque[ClusterEvent] = deque(state or ())
        self._wakeup = asyncio.Event()
        self._closed = False

    def push(self, event: ClusterEvent) -> None:
        self._buffer.append(event)
        self._wakeup.set()

    def drain(self) -> list[ClusterEvent]:
        events = list(self._buffer)
        self._buffer.clear()
        return events

    async def wait(self, timeout_s: float) -> bool:
        """Wait until at least one event is buffered (consuming nothing); False on timeout."""
        if self._buffer:
            return True
        self._wakeup.clear()
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return bool(self._buffer)

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        self._bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[ClusterEvent]:
        while True:
            while self._buffer:
                yield self._buffer.popleft()
            if self._closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()


class EventBus:
    """Fan-out of ClusterEvents to subscriptions; publishing never blocks."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self.state = CurrentState()

    def subscribe(self, *, current_state: bool = True) -> Subscription:
        """A subscription that first holds the current state (unless ``current_state`` is False)."""
        subscription = Subscription(self, self.state.events() if current_state else None)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def publish(self, event: ClusterEvent) -> None:
        self.state.note(event)
        for subscription in list(self._subscriptions):
            subscription.push(event)

    def emit(self, kind: EventKind, *, namespace: str = "", name: str = "", node: str = "", ip: str = "",
             service: str = "", detail: str = "") -> ClusterEvent:
        """Publish an event stamped now (wall clock, ns)."""
        event = ClusterEvent(ts_ns=time.time_ns(), kind=kind, namespace=namespace, name=name, node=node, ip=ip,
                             service=service, detail=detail)
        self.publish(event)
        return event

    def close(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()


_POD_HISTORY = frozenset({
    EventKind.POD_ADDED, EventKind.POD_SCHEDULED, EventKind.POD_RUNNING, EventKind.POD_READY,
    EventKind.POD_NOT_READY, EventKind.POD_TERMINATING, EventKind.CONTAINER_DIED, EventKind.CONTAINER_RESTARTED,
})  # fmt: skip
_NODE_ASPECT = {
    EventKind.NODE_READY: "ready", EventKind.NODE_NOT_READY: "ready",
    EventKind.NODE_CORDONED: "cordon", EventKind.NODE_UNCORDONED: "cordon",
}  # fmt: skip


class CurrentState:
    """The events that describe what exists now (see the module docstring), kept as they are published."""

    def __init__(self) -> None:
        self._pods: dict[tuple[str, str], list[ClusterEvent]] = {}
        self._endpoints: dict[tuple[str, str, str], ClusterEvent] = {}
        self._syncs: dict[tuple[str, str, str], ClusterEvent] = {}
        self._nodes: dict[tuple[str, str], ClusterEvent] = {}

    def note(self, event: ClusterEvent) -> None:
        kind = event.kind
        if kind in _POD_HISTORY:
            self._pods.setdefault((event.namespace, event.name), []).append(event)
        elif kind is EventKind.POD_DELETED:
            self._pods.pop((event.namespace, event.name), None)
        elif kind is EventKind.ENDPOINT_ADDED:
            self._endpoints[(event.namespace, event.service, event.ip)] = event
        elif kind is EventKind.ENDPOINT_REMOVED:
            self._endpoints.pop((event.namespace, event.service, event.ip), None)
        elif kind is EventKind.PROXY_SYNCED:
            self._syncs[(event.namespace, event.service, event.node)] = event
        elif kind in _NODE_ASPECT:
            self._nodes[(event.name, _NODE_ASPECT[kind])] = event

    def events(self) -> list[ClusterEvent]:
        """The current state as events, in time order."""
        found = [e for history in self._pods.values() for e in history]
        found += [*self._endpoints.values(), *self._syncs.values(), *self._nodes.values()]
        return sorted(found, key=lambda e: e.ts_ns)
