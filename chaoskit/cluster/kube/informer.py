"""List+watch informers (one thread each), their hand-over to the event bus, and wake-ups for waits.

Why threads with the sync client: watches are long blocking reads; a thread per collection (three to a
few) is cheap, the sync client's streaming and exec paths are its most used ones, and the asyncio side stays
free of aiohttp session lifetimes. A watch ends by a server-side timeout and is renewed from the last
resourceVersion; a 410 Gone relists and diffs, so no change is lost silently.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from chaoskit.cluster.events import EventBus
from chaoskit.cluster.kube.api import JsonObj, KubeApi, interrupt, iter_lines
from chaoskit.cluster.protocol import ClusterEvent

OnChange = Callable[[JsonObj | None, JsonObj | None, int], None]
"""(old, new, ts_ns): called in the informer thread after the cache was updated."""
OnSync = Callable[[list[JsonObj], int], None]
"""(items, ts_ns): called once in the informer thread with the first list and the host-clock moment it
arrived, before any change is reported."""


def _key(obj: JsonObj) -> str:
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class Informer:
    """Keeps ``cache`` equal to the collection at ``path`` and reports every change to ``on_change``."""

    def __init__(self, api: KubeApi, path: str, *, on_change: OnChange, window_s: int,
                 on_sync: OnSync | None = None) -> None:
        self.api, self.path, self.on_change, self.window_s = api, path, on_change, window_s
        self.on_sync = on_sync
        self.cache: dict[str, JsonObj] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.errors: list[Exception] = []
        """The most recent failures (at most 20)."""
        self.failing = 0
        """Consecutive failed list/watch requests; 0 while the watch is healthy."""
        self.on_error: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._resp: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch {path}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._resp is not None:
            interrupt(self._resp)
        self._thread.join(timeout=self.api.timeout_s)

    def snapshot(self) -> list[JsonObj]:
        with self.lock:
            return list(self.cache.values())

    def _run(self) -> None:
        rv: str | None = None
        while not self._stop.is_set():
            try:
                if rv is None:
                    rv = self._relist()
                    self.failing = 0  # the API answers again
                rv = self._watch(rv)
            except Exception as exc:  # any transport/API failure: record it, back off, relist
                if self._stop.is_set():
                    return
                self.errors = [*self.errors[-19:], exc]
                self.failing += 1
                rv = None
                if self.on_error is not None:
                    self.on_error()
                # Bounded, interruptible back-off after a failure (not a wait for cluster state).
                self._stop.wait(min(0.2 * 2**self.failing, 5.0))

    def _relist(self) -> str:
        listing = self.api.request("GET", self.path)
        ts = time.time_ns()
        fresh = {_key(o): o for o in listing.get("items", [])}
        first = not self.synced.is_set()
        with self.lock:
            old = self.cache
            self.cache = dict(fresh)
        if not first:  # after a lost watch: report what changed meanwhile
            for key in old.keys() | fresh.keys():
                if old.get(key) != fresh.get(key):
                    self.on_change(old.get(key), fresh.get(key), ts)
        elif self.on_sync is not None:
            self.on_sync(list(fresh.values()), ts)
        self.synced.set()
        return str(listing.get("metadata", {}).get("resourceVersion", ""))

    def _watch(self, rv: str) -> str | None:
        query = [("watch", "true"), ("resourceVersion", rv), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", str(self.window_s))]
        self._resp = resp = self.api.open_stream(self.path, query=query,
                                                 read_timeout_s=self.window_s + 30)
        try:
            if self._stop.is_set():  # stop() ran before _resp was set: it could not interrupt us
                return rv
            for line in iter_lines(resp):
                if self._stop.is_set():
                    return rv
                if not line.strip():
                    continue
                ts = time.time_ns()
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    return None  # 410 Gone (or another status): relist
                rv = str(obj.get("metadata", {}).get("resourceVersion", rv))
                if event.get("type") != "BOOKMARK":
                    self._apply(event["type"], obj, ts)
        finally:
            self._resp = None
            resp.close()  # a half-read watch connection must not go back to the pool
        return rv

    def _apply(self, kind: str, obj: JsonObj, ts: int) -> None:
        key = _key(obj)
        with self.lock:
            old = self.cache.get(key)
            if kind == "DELETED":
                self.cache.pop(key, None)
            else:
                self.cache[key] = obj
        self.on_change(old, None if kind == "DELETED" else obj, ts)


class Notifier:
    """Wakes asyncio waiters when an informer thread saw a change (the basis of every wait)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiters: set[asyncio.Future[None]] = set()

    def waiter(self) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiters.add(fut)
        fut.add_done_callback(self._waiters.discard)
        return fut

    def notify_threadsafe(self) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        for fut in list(self._waiters):
            if not fut.done():
                fut.set_result(None)


class ThreadsafePublisher:
    """Hands events from informer threads to the shared EventBus on the event loop's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, bus: EventBus) -> None:
        self._loop, self.bus = loop, bus

    def publish_threadsafe(self, events: list[ClusterEvent]) -> None:
        if events and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._publish_all, events)

    def _publish_all(self, events: list[ClusterEvent]) -> None:
        for event in events:
            self.bus.publish(event)
