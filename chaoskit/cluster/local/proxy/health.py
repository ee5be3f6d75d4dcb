"""The proxy's own health: what the embedded cluster itself failed to carry, never the service's doing.

Three things only the proxy can see, reported on its control channel (``{"op":"health"}``, see
``__main__``) so a run can tell "the embedded cluster was saturated" from "the service failed":

- connections the kernel dropped because a listener's accept queue was full (the listening socket's
  own drop counter, ``SO_MEMINFO``: exact per listener, unlike /proc/net/netstat which counts every
  process of the network namespace). The client retransmits its SYN, so a drop costs it 1 s or more,
  and a timeout if it happens again;
- hand-overs the pod did not take in time (the client was reset: the embedded cluster's failure, a
  DNATed connection would have waited in the pod's accept queue);
- the event loop running late (the proxy process did not get the CPU).
"""

from __future__ import annotations

import asyncio
import resource
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

SO_MEMINFO: Final = 55
"""Linux: ``struct { u32 [SK_MEMINFO_VARS] }``; not exported by the socket module."""
SK_MEMINFO_DROPS: Final = 8
_MEMINFO_LEN: Final = 9 * 4
LAG_REPORTED_MS: Final = 250.0
"""Loop lateness worth a report: well above scheduling noise, well below a client's timeout."""


def socket_drops(sock: socket.socket) -> int:
    """The kernel's drop counter of ``sock``; for a listener: SYNs and handshakes dropped for a full
    accept queue (``tcp_listendrop``). 0 where the option is unknown (not Linux)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO_LEN)
    except OSError:
        return 0
    if len(raw) < _MEMINFO_LEN:
        return 0
    return int(struct.unpack_from("I", raw, SK_MEMINFO_DROPS * 4)[0])


@dataclass
class HandoffCounters:
    """Hand-overs that failed, by why (kept by the sender, read by the health report)."""

    timeouts: int = 0
    """The pod did not take it: its hand-over socket stayed full for the whole wait, or its backlog was
    full. The pod (or this machine) is saturated; a DNATed connection would have waited in its queue."""
    refused: int = 0
    """The pod's hand-over socket was gone (pod dead or stopping): the service's failure, not ours."""


class HealthMonitor:
    """Samples the counters every ``every_s`` and emits a health line when one of them rose."""

    def __init__(self, emit: Callable[[dict[str, Any]], None], listener_drops: Callable[[], int],
                 handoff: HandoffCounters) -> None:
        self._emit = emit
        self._listener_drops = listener_drops
        self._handoff = handoff
        self._lag_max_ms = 0.0
        self._last: tuple[int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def snapshot(self) -> dict[str, Any]:
        """Totals since the proxy started (a lost line loses nothing), plus the worst lag since the last one."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"op": "health", "id": "proxy", "ts_ns": time.time_ns(), "listen_drops": self._listener_drops(),
                "handoff_timeouts": self._handoff.timeouts, "handoff_refused": self._handoff.refused,
                "loop_lag_ms": round(self._lag_max_ms, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}

    def start(self, every_s: float) -> None:
        """Report now, then on every rise; a second ``start`` only changes nothing (idempotent)."""
        self._emit(self._mark(self.snapshot()))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(every_s))

    def _mark(self, report: dict[str, Any]) -> dict[str, Any]:
        self._last = (report["listen_drops"], report["handoff_timeouts"])
        self._lag_max_ms = 0.0
        return report

    async def _watch(self, every_s: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + every_s
            await asyncio.sleep(every_s)
            self._lag_max_ms = max(self._lag_max_ms, (loop.time() - due) * 1000.0)
            report = self.snapshot()
            if (report["listen_drops"], report["handoff_timeouts"]) != self._last or (
                    self._lag_max_ms >= LAG_REPORTED_MS):
                self._emit(self._mark(report))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


def total_drops(sockets: Iterable[socket.socket | None]) -> int:
    return sum(socket_drops(sock) for sock in sockets if sock is not None)
