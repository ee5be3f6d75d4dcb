"""Open-model (constant arrival rate) scheduling and the batched record sink of the agent process.

Runs under gevent inside the agent process only; the chaoskit process never imports this module.
"""

from __future__ import annotations

import time
from typing import Any, Final

import gevent
import gevent.event
import gevent.os

from chaoskit.load import gclient, gtcp
from chaoskit.load.lags import LagHistogram
from chaoskit.load.plan import WHOLE, LoadPlan, Share
from chaoskit.load.records import RECORD, Outcome

_MAX_LATENCY_US: Final = 2**32 - 1


class RecordSink:
    """Packs one record per request and writes them in batches to a pipe without blocking the loop."""

    def __init__(self, fd: int | None, *, flush_interval_s: float = 0.05,
                 flush_bytes: int = 4096) -> None:
        self._fd = fd
        self._interval = flush_interval_s
        self._flush_bytes = flush_bytes
        self._buf = bytearray()
        self._wake = gevent.event.Event()
        self._closed = False
        self.count = 0
        self.lags = LagHistogram()
        """start - scheduled of every request, bucketed (kept even when records are discarded)."""
        self._greenlet: Any = None
        if fd is not None:
            gevent.os.make_nonblocking(fd)
            self._greenlet = gevent.spawn(self._run)

    def add(self, scheduled_ns: int, start_ns: int, latency_us: int, *, service: int,
            outcome: Outcome, status: int) -> None:
        self.count += 1
        self.lags.add(start_ns - scheduled_ns)
        if self._fd is None:
            return
        self._buf += RECORD.pack(scheduled_ns, start_ns, min(latency_us, _MAX_LATENCY_US),
                                 service, outcome, status)
        if len(self._buf) >= self._flush_bytes:
            self._wake.set()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._flush()

    def _flush(self) -> None:
        if not self._buf or self._fd is None:
            return
        # Swap first: requests finishing while nb_write waits append to the next batch, in order.
        data, self._buf = self._buf, bytearray()
        view = memoryview(data)
        while view:
            view = view[gevent.os.nb_write(self._fd, view):]

    def close(self) -> None:
        """Write everything added so far; idempotent."""
        self._closed = True
        self._wake.set()
        if self._greenlet is not None:
            self._greenlet.join()
            self._greenlet = None
        self._flush()


class TargetRunner:
    """Schedules request i of one target at t0 + i/rate, each in its own greenlet, whatever the outcomes.

    With a ``share`` (worker k of N) it runs requests k, k+N, k+2N... of that same schedule: the workers'
    merged stream is the single agent's, instant for instant.
    """

    def __init__(self, index: int, plan: LoadPlan, sink: RecordSink,
                 stopping: gevent.event.Event, share: Share = WHOLE) -> None:
        target = plan.targets[index]
        self.index = index
        self.endpoint = gclient.Endpoint.resolve(target, keepalive=plan.connection == "keepalive")
        self._attempt = gtcp.check if target.request.mode == "tcp" else gclient.get
        self._period_ns = 1e9 / plan.rate
        self._count = plan.requests_per_target
        self._share = share
        self._cap = plan.max_in_flight
        self._timeout_s = plan.timeout_s
        self._sink = sink
        self._stopping = stopping
        self._in_flight = 0
        self._greenlets: dict[Any, int] = {}
        """Running request greenlets -> their scheduled ns."""
        self._idle = gevent.event.Event()
        self._idle.set()
        self.started = False
        self.saturated = 0

    def run(self, t0_ns: int) -> None:
        """Run the whole schedule, then wait (bounded) for in-flight requests. Runs once."""
        if self.started:
            return
        self.started = True
        loop = gevent.get_hub().loop
        for i in range(self._share.index, self._count, self._share.of):
            scheduled = t0_ns + int(i * self._period_ns)
            while (delay := scheduled - time.time_ns()) > 0:
                # A stale loop clock makes timers fire early (FINDINGS): refresh it first.
                loop.update_now()
                if self._stopping.wait(delay / 1e9):
                    return
            if self._stopping.is_set():
                return
            if self._in_flight >= self._cap:
                self.saturated += 1
                self._sink.add(scheduled, time.time_ns(), 0, service=self.index,
                               outcome=Outcome.AGENT_SATURATED, status=0)
                continue
            self._in_flight += 1
            self._idle.clear()
            self._greenlets[gevent.spawn(self._one, scheduled, i)] = scheduled
        # Every request has its own timeout, so this normally ends at once; the slack covers a
        # starved loop firing timers late.
        if not self._idle.wait(self._timeout_s + 5.0):
            self._abandon()

    def _one(self, scheduled_ns: int, index: int) -> None:
        start_ns = time.time_ns()
        t = time.perf_counter_ns()
        # Still AGENT_SATURATED in `finally` only if this greenlet was killed: see _abandon.
        outcome, status, ended = Outcome.AGENT_SATURATED, 0, 0
        try:
            outcome, status, ended = self._attempt(self.endpoint, self._timeout_s, index)
        except Exception:
            # A bug in the client must still leave a record: a request is never silently dropped.
            outcome = Outcome.ERROR
        finally:
            if outcome is Outcome.AGENT_SATURATED:
                self.saturated += 1
            latency_us = ((ended or time.perf_counter_ns()) - t) // 1000
            self._sink.add(scheduled_ns, start_ns, latency_us, service=self.index,
                           outcome=outcome, status=status)
            self._greenlets.pop(gevent.getcurrent(), None)
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    def _abandon(self) -> None:
        """Kill requests still running long after their own timeout (the agent was starved of CPU);
        each is recorded as ``agent_saturated``, so the record count still matches the schedule."""
        if self._greenlets:
            gevent.killall(list(self._greenlets), block=True, timeout=5.0)
        # A greenlet killed before it ever ran left no record: write it here.
        for scheduled in self._greenlets.values():
            self.saturated += 1
            self._sink.add(scheduled, time.time_ns(), 0, service=self.index,
                           outcome=Outcome.AGENT_SATURATED, status=0)
        self._greenlets.clear()

    def close(self) -> None:
        self.endpoint.close()
