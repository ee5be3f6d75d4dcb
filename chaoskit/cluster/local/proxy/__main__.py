"""The local cluster's Service proxy process (kube-proxy's data path), driven by JSON lines.

Run as ``python -m chaoskit.cluster.local.proxy``; one process serves every listener of one cluster.
Control (one JSON object per line on stdin; replies on stdout, logs on stderr):

- ``{"op":"listen","id":"L1","host":"127.61.1.1","port":30080}`` -> ``{"op":"listening","id":"L1"}``
- ``{"op":"endpoints","id":"L1","seq":7,"endpoints":[["127.61.0.5",8080]]}``
  -> ``{"op":"synced","id":"L1","seq":7,"ts_ns":...}`` (wall clock when the new set took effect)
- ``{"op":"close","id":"L1"}`` -> ``{"op":"closed","id":"L1"}``
  (closing an unknown id is not an error: close is idempotent)
- ``{"op":"health","id":"proxy","every_s":1}`` -> ``{"op":"health","id":"proxy","ts_ns":...,
  "listen_drops":0,"handoff_timeouts":0,"handoff_refused":0,"loop_lag_ms":0.0,"cpu_s":0.1}`` now, and
  again (at most every ``every_s``) whenever drops or hand-over timeouts rose or the loop ran late
  (``health``). Totals since start. Nothing is sent unasked: a controller that never asks sees no change.
- ``listen`` may carry ``"backlog": N`` (accept queue length; default 4096).
- any failure -> ``{"op":"error","id":"L1","message":"..."}``
- stdin EOF or SIGTERM -> close everything and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import json
import logging
import resource
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from chaoskit.cluster.local.proxy.conn import HANDOFF
from chaoskit.cluster.local.proxy.handoff import Endpoint
from chaoskit.cluster.local.proxy.health import HealthMonitor
from chaoskit.cluster.local.proxy.listener import BACKLOG, Listener

log = logging.getLogger("chaoskit.proxy")

Emit = Callable[[dict[str, Any]], None]


class ControlError(Exception):
    """A control message that cannot be carried out; its text goes back in an ``error`` reply."""


def emit_stdout(message: dict[str, Any]) -> None:
    """Write one reply line on stdout and flush it at once: the parent waits on these lines."""
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def is_ip(host: object) -> bool:
    """Only IP literals: a name would be resolved (slowly, maybe over the network) per connect."""
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_endpoints(raw: object) -> tuple[Endpoint, ...]:
    """``[["ip", port], ...]`` -> a duplicate-free tuple (a set: a repeat must not weigh double).

    An entry may carry a third item, the pod's hand-over socket path (``[ip, port, path]``): connections
    to that endpoint are then handed to the pod instead of relayed.
    """
    if not isinstance(raw, list):
        raise ControlError("endpoints must be a list of [host, port] pairs")
    result: dict[Endpoint, None] = {}
    for item in raw:
        if (not isinstance(item, list) or len(item) not in (2, 3) or not is_ip(item[0])
                or not isinstance(item[1], int) or isinstance(item[1], bool)
                or not 0 < item[1] < 65536 or (len(item) == 3 and not isinstance(item[2], str))):
            raise ControlError(f"bad endpoint {item!r}: expected [ip, port] or [ip, port, path], 0 < port < 65536")
        result[(item[0], item[1])] = None
        if len(item) == 3:
            HANDOFF.paths[(item[0], item[1])] = item[2]
    return tuple(result)


class Proxy:
    """Every listener of one local cluster, keyed by the id the parent gave it."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._listeners: dict[str, Listener] = {}
        self._closed_drops = 0
        self.health = HealthMonitor(emit, self.listen_drops, HANDOFF.failed)

    def listen_drops(self) -> int:
        """Accept-queue drops on every address this proxy ever listened on."""
        return self._closed_drops + sum(listener.drops() for listener in self._listeners.values())

    async def handle_line(self, line: bytes) -> None:
        """Carry out one control line; every outcome, failures included, is answered on stdout."""
        listener_id = ""
        try:
            try:
                message = json.loads(line)
            except ValueError as exc:
                raise ControlError(f"not a JSON line: {exc}") from None
            if not isinstance(message, dict):
                raise ControlError("a control line must be a JSON object")
            listener_id = str(message.get("id", ""))
            await self._dispatch(message, listener_id)
        except (ControlError, ValueError, OSError) as exc:
            text = str(exc) or type(exc).__name__
            self._emit({"op": "error", "id": listener_id, "message": text})

    async def _dispatch(self, message: dict[str, Any], listener_id: str) -> None:
        op = message.get("op")
        if not listener_id:
            raise ControlError("missing id")
        if op == "listen":
            self._listen(listener_id, message.get("host"), message.get("port"), message.get("backlog", BACKLOG))
            self._emit({"op": "listening", "id": listener_id})
        elif op == "endpoints":
            seq = message.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise ControlError("endpoints needs an integer seq")
            endpoints = parse_endpoints(message.get("endpoints"))
            await self._get(listener_id).set_endpoints(endpoints)
            self._emit({"op": "synced", "id": listener_id, "seq": seq, "ts_ns": time.time_ns()})
        elif op == "close":
            listener = self._listeners.pop(listener_id, None)
            if listener is not None:
                listener.close()
                self._closed_drops += listener.drops()
            self._emit({"op": "closed", "id": listener_id})
        elif op == "health":
            every_s = message.get("every_s", 1.0)
            if not isinstance(every_s, int | float) or isinstance(every_s, bool) or not 0.05 <= every_s <= 3600:
                raise ControlError("health needs every_s, a number of seconds in [0.05, 3600]")
            self.health.start(float(every_s))
        else:
            raise ControlError(f"unknown op {op!r}: expected listen, endpoints, close or health")

    def _listen(self, listener_id: str, host: object, port: object, backlog: object) -> None:
        if listener_id in self._listeners:
            raise ControlError(f"listener {listener_id!r} exists already")
        if not is_ip(host) or not isinstance(port, int) or not 0 < port < 65536:
            raise ControlError("listen needs an IP address host and an integer port in 1..65535")
        if not isinstance(backlog, int) or isinstance(backlog, bool) or not 0 < backlog <= 65535:
            raise ControlError("listen's backlog must be an integer in 1..65535")
        assert isinstance(host, str)  # is_ip checked it; this tells the type checker
        listener = Listener(listener_id, host, port, backlog=backlog)
        try:
            listener.bind()
        except OSError as exc:
            raise ControlError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from exc
        self._listeners[listener_id] = listener

    def _get(self, listener_id: str) -> Listener:
        try:
            return self._listeners[listener_id]
        except KeyError:
            raise ControlError(f"unknown listener {listener_id!r}") from None

    def close_all(self) -> None:
        self.health.stop()
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()


class _LineReader(asyncio.Protocol):
    """Splits stdin into lines for the control queue; ``None`` marks EOF."""

    def __init__(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._queue = queue
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            if line.strip():
                self._queue.put_nowait(line)

    def eof_received(self) -> bool:
        if self._buffer.strip():
            self._queue.put_nowait(self._buffer)
        self._queue.put_nowait(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._queue.put_nowait(None)


async def _control_loop(proxy: Proxy, queue: asyncio.Queue[bytes | None]) -> None:
    """Apply control lines strictly in order (an endpoints change must not overtake a listen)."""
    while (line := await queue.get()) is not None:
        await proxy.handle_line(line)


async def serve(*, emit: Emit = emit_stdout) -> None:
    """Run until stdin reaches EOF or SIGTERM/SIGINT arrives; then close every listener."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    transport, _ = await loop.connect_read_pipe(lambda: _LineReader(queue), sys.stdin)
    proxy = Proxy(emit)
    control = asyncio.create_task(_control_loop(proxy, queue))
    stopping: asyncio.Future[None] = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _resolve, stopping)
    try:
        await asyncio.wait([control, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        control.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await control
        proxy.close_all()
        transport.close()
        # Let the loop run the close callbacks so resets go out before the process exits.
        await asyncio.sleep(0)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _die_with_parent() -> None:
    """SIGTERM ourselves if the parent dies: a safety net beside stdin EOF (Linux only)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def raise_fd_limit() -> None:
    """Every proxied connection holds two fds: allow as many as the hard limit does."""
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _run(coro_factory: Callable[[], Any]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro_factory())
    else:
        uvloop.run(coro_factory())


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="chaoskit-proxy %(levelname)s %(message)s")
    _die_with_parent()
    raise_fd_limit()
    _run(serve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
