"""An in-process event bus: every subscriber gets every event published after it subscribed."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator

from chaoskit.cluster.protocol import ClusterEvent, EventKind


class Subscription:
    """Buffers events from the moment it is created; iterate it or ``drain()`` it."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._buffer: deque[ClusterEvent] = deque()
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

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def publish(self, event: ClusterEvent) -> None:
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
