"""Client of the proxy process (the local kube-proxy data path), over JSON lines on its stdin/stdout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.cluster.local.proxy.health import LAG_REPORTED_MS
from chaoskit.cluster.protocol import ClusterError
from chaoskit.process import spawn, terminate

log = logging.getLogger(__name__)
SyncedCallback = Callable[[str, int, int], None]
"""(listener id, seq, ts_ns when the proxy applied it)"""


HEALTH_EVERY_S = 1.0
"""How often, at most, the proxy reports a rise in its failure counters."""


@dataclass
class ProxyHealth:
    """What the proxy process reported about itself: failures that are the embedded cluster's own."""

    listen_drops: int = 0
    handoff_timeouts: int = 0
    lag_ms_max: float = 0.0
    windows: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(from_ns, to_ns, connections dropped, hand-overs timed out) for every report that saw some."""
    lags: list[tuple[int, float]] = field(default_factory=list)
    """(ts_ns, ms) of every report whose event loop ran that late."""
    reports: int = 0
    _last_ns: int = 0

    def update(self, report: dict[str, Any]) -> None:
        self.reports += 1
        ts_ns = int(report.get("ts_ns", 0))
        drops, timeouts = int(report.get("listen_drops", 0)), int(report.get("handoff_timeouts", 0))
        if drops > self.listen_drops or timeouts > self.handoff_timeouts:
            self.windows.append((self._last_ns or ts_ns, ts_ns, drops - self.listen_drops,
                                 timeouts - self.handoff_timeouts))
        lag = float(report.get("loop_lag_ms", 0.0))
        if self._last_ns and lag >= LAG_REPORTED_MS:
            self.lags.append((ts_ns, lag))
            self.lag_ms_max = max(self.lag_ms_max, lag)
        self.listen_drops, self.handoff_timeouts = max(drops, self.listen_drops), max(timeouts, self.handoff_timeouts)
        self._last_ns = ts_ns

    def notes(self) -> list[str]:
        """One sentence per kind of trouble, for the run's notes; none when the proxy kept up."""
        notes = []
        if self.windows:
            spans = ", ".join(f"{_clock(a)}-{_clock(b)}" for a, b, _, _ in self.windows[:5])
            more = f" and {len(self.windows) - 5} more" if len(self.windows) > 5 else ""
            notes.append(
                f"the embedded cluster's proxy was saturated: {self.listen_drops} connections dropped by the "
                f"kernel accept queue, {self.handoff_timeouts} hand-overs timed out (UTC {spans}{more}): "
                "failures in those windows are the embedded cluster's, not the service's")
        if self.lags:
            notes.append(
                f"the embedded cluster's proxy ran up to {self.lag_ms_max:.0f} ms late {len(self.lags)} times "
                f"(first at UTC {_clock(self.lags[0][0])}): this machine was short of CPU, so slow answers "
                "then are partly the embedded cluster's")
        return notes


def _clock(ts_ns: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts_ns / 1e9)) + f".{ts_ns // 100_000_000 % 10}"


class ProxyClient:
    """Starts one proxy process and sends it listener and endpoint commands."""

    def __init__(self, *, python: str, on_synced: SyncedCallback, log_path: Path) -> None:
        self._python = python
        self._log_path = log_path
        self._on_synced = on_synced
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self.errors: list[str] = []
        """Data-path errors the proxy reported outside any request (kept for the run's notes)."""
        self.health = ProxyHealth()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        # The proxy's own log goes to a file (like kube-proxy's), never onto the user's terminal.
        with self._log_path.open("ab") as log_file:
            self._process = await spawn(
                [self._python, "-m", "chaoskit.cluster.local.proxy"], env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log_file.fileno(),
            )
        self._reader = asyncio.create_task(self._read_loop())
        self._send({"op": "health", "id": "proxy", "every_s": HEALTH_EVERY_S})

    async def _read_loop(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for line in self._process.stdout:
            message = json.loads(line)
            op, listener = message.get("op"), message.get("id", "")
            if op == "synced":
                self._on_synced(listener, int(message["seq"]), int(message["ts_ns"]))
                continue
            if op == "health":
                self.health.update(message)
                continue
            expected = "listen" if op in ("listening", "error") else "close"
            future = self._pending.pop((expected, listener), None)
            if future is not None and not future.done():
                future.set_result(message)
            elif op == "error":  # e.g. a listener could not re-bind after an empty endpoint set
                self.errors.append(f"proxy listener {listener}: {message.get('message')}")
                log.warning(self.errors[-1])
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ClusterError("the local proxy process exited"))

    def _send(self, message: dict[str, Any]) -> None:
        if self._process is None or self._process.stdin is None or self._process.returncode is not None:
            raise ClusterError("the local proxy process is not running")
        self._process.stdin.write(json.dumps(message).encode() + b"\n")

    async def _request(self, op: str, message: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[(op, message["id"])] = future
        self._send({"op": op, **message})
        return await asyncio.wait_for(future, timeout=10)

    async def listen(self, listener: str, host: str, port: int) -> None:
        reply = await self._request("listen", {"id": listener, "host": host, "port": port})
        if reply.get("op") == "error":
            raise ClusterError(f"cannot listen on {host}:{port}: {reply.get('message')}",
                               hint="another process holds that address; pick another port")

    async def close_listener(self, listener: str) -> None:
        await self._request("close", {"id": listener})

    def set_endpoints(self, listener: str, seq: int, endpoints: list[tuple[str, int, str]]) -> None:
        """Each endpoint is (IP, port, hand-over socket path or "" to relay)."""
        self._send({"op": "endpoints", "id": listener, "seq": seq,
                    "endpoints": [[ip, port, path] if path else [ip, port] for ip, port, path in endpoints]})

    async def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=2)
        await terminate(process, grace_s=1)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._process = None
