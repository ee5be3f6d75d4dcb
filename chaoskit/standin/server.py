"""The target service: routes, the timed listening outage (/chaos/refuse), the timed hang (/chaos/hang)
and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any, Final

from chaoskit.sockets import bound_socket
from chaoskit.standin.config import TargetConfig
from chaoskit.standin.conn import HttpConnection, Reply
from chaoskit.standin.echo import EchoConnection
from chaoskit.standin.handoff import HandoffReceiver, reset_socket
from chaoskit.standin.http import Request, query_param, response
from chaoskit.standin.routes import PLAIN_PATHS, Stats, shaped_route

BACKLOG: Final = 4096
MAX_REFUSE_MS: Final = 600_000.0
EARLY_S: Final = 0.01
"""The loop timer ending a refuse window fires this early; a precise sleep does the rest."""
DRAIN_S: Final = 0.5
"""After SIGTERM (and the shutdown delay), how long requests already begun get to finish."""

_JSON: Final = b"application/json"
_PLAIN_METHODS: Final = frozenset((b"GET", b"HEAD", b"POST"))
log = logging.getLogger("chaoskit.standin")
Connection = HttpConnection | EchoConnection


class TargetService:
    """Everything one target process serves. ``start`` binds; SIGTERM leads to ``shutdown``."""

    def __init__(self, config: TargetConfig) -> None:
        self.config = config
        self.conns: set[Any] = set()
        """Open connections (``HttpConnection``, or ``EchoConnection`` in tcp-echo mode)."""
        self.draining = False
        self.stats = Stats()
        self._ssl = _server_tls(config)
        self._factory: Callable[[], Connection] = (
            (lambda: EchoConnection(self)) if config.protocol == "tcp-echo" else (lambda: HttpConnection(self)))
        self.chaos_log: list[tuple[int, int]] = []
        """Refuse windows as (begin_ns, end_ns): listening sockets closed .. listening again."""
        self.hang_log: list[tuple[int, int]] = []
        """Hang windows as (begin_ns, end_ns): requests received in between were never answered."""
        self._started = time.monotonic()
        self._servers: list[asyncio.Server] = []
        self._window: tuple[int, int, list[socket.socket]] | None = None
        self._window_timer: asyncio.TimerHandle | None = None
        self._all_gone: asyncio.Event | None = None
        self._handoff: HandoffReceiver | None = None

    async def start(self) -> None:
        """Bind every address, then listen on all (raises OSError; nothing stays bound then)."""
        socks: list[socket.socket] = []
        try:
            for host, port in self.config.listen:
                socks.append(bound_socket(host, port))
        except OSError:
            for sock in socks:
                sock.close()
            raise
        for sock in socks:
            sock.listen(BACKLOG)
        await self._serve_listening(socks)
        if self.config.handoff_path:
            self._handoff = HandoffReceiver(self.config.handoff_path, self._adopt)
            self._handoff.start()

    def _adopt(self, sock: socket.socket) -> None:
        """A connection the Service proxy accepted: served like our own, refused like our own."""
        if not self._servers or self.draining:  # not listening (refuse window, shutdown): reset it
            reset_socket(sock)
            return
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        adopting = loop.create_task(loop.connect_accepted_socket(self._factory, sock, ssl=self._ssl))
        adopting.add_done_callback(_log_adopt_error)

    # --- requests -------------------------------------------------------------------------

    def handle(self, request: Request, *, keep_alive: bool, body: bytes = b"") -> Reply:
        """The answer to one request (its body has been read; ``body`` holds it for ``/echo`` only);
        a None payload: no answer (``/chaos/hang``)."""
        method, path = request.method, request.path
        if path in PLAIN_PATHS and method in _PLAIN_METHODS:
            self.stats.count(method, path)
            return self._route(request, keep_alive=keep_alive)
        if not path.startswith("/chaos/"):
            self.stats.count(method, path)
        shaped = shaped_route(request, body, keep_alive=keep_alive, token=self.config.auth_token, stats=self.stats)
        if shaped is not None:
            return shaped
        if request.method not in _PLAIN_METHODS:
            return response(405, b"method not allowed\n", keep_alive=keep_alive), keep_alive, None
        return self._route(request, keep_alive=keep_alive)

    def _route(self, request: Request, *, keep_alive: bool) -> Reply:
        head_only = request.method == b"HEAD"
        path = request.path
        if path.startswith("/chaos/"):
            return self._chaos(request, keep_alive=keep_alive)
        if self.hang_log and time.time_ns() < self.hang_log[-1][1]:
            return None, True, None  # hanging: the client waits until its own timeout
        # POST is answered like GET on / and /healthz (the body is read and dropped), so a load
        # profile that sends bodies measures the same service.
        if path == "/healthz":
            return response(200, b"ok", keep_alive=keep_alive, head_only=head_only), keep_alive, None
        if path == "/":
            return response(200, self._identity(), content_type=_JSON, keep_alive=keep_alive,
                            head_only=head_only), keep_alive, None
        return response(404, b"not found\n", keep_alive=keep_alive,
                        head_only=head_only), keep_alive, None

    def _chaos(self, request: Request, *, keep_alive: bool) -> Reply:
        """The chaos controls: answered even while the service hangs."""
        path = request.path
        if path == "/chaos/log" and request.method != b"POST":
            payload = json.dumps([list(w) for w in self.chaos_log]).encode()
            return response(200, payload, content_type=_JSON, keep_alive=keep_alive,
                            head_only=request.method == b"HEAD"), keep_alive, None
        if path == "/chaos/refuse":
            return self._refuse_request(request, keep_alive=keep_alive)
        if path == "/chaos/hang":
            return self._hang_request(request, keep_alive=keep_alive)
        if path == "/chaos/log":
            return response(405, b"method not allowed\n", keep_alive=keep_alive), keep_alive, None
        return response(404, b"not found\n", keep_alive=keep_alive), keep_alive, None

    def _identity(self) -> bytes:
        return json.dumps({
            "pod": self.config.pod, "ip": self.config.ip, "node": self.config.node,
            "uptime_s": round(time.monotonic() - self._started, 6),
        }).encode()

    def _refuse_request(self, request: Request, *, keep_alive: bool) -> Reply:
        if request.method != b"POST":
            return response(405, b"POST /chaos/refuse?ms=N\n", keep_alive=keep_alive), keep_alive, None
        ms = _window_ms(request)
        if ms is None:
            message = f"ms must be a number in (0, {MAX_REFUSE_MS:.0f}]\n".encode()
            return response(400, message, keep_alive=keep_alive), keep_alive, None
        if self._window is not None or self.draining:
            return response(409, b"busy: a refuse window or shutdown is under way\n",
                            keep_alive=keep_alive), keep_alive, None
        body = json.dumps({"refuse_ms": ms}).encode()
        # This connection is closed with all the others when the window begins: say so.
        return (response(202, body, content_type=_JSON, keep_alive=False), False,
                lambda: self.begin_refuse(ms / 1000.0))

    def _hang_request(self, request: Request, *, keep_alive: bool) -> Reply:
        """GET: the hang log. POST ?ms=N: for N ms, accept and read requests but never answer them (a hung
        service: clients time out); /chaos/* keeps answering."""
        if request.method != b"POST":
            payload = json.dumps([list(w) for w in self.hang_log]).encode()
            return response(200, payload, content_type=_JSON, keep_alive=keep_alive), keep_alive, None
        ms = _window_ms(request)
        if ms is None:
            message = f"ms must be a number in (0, {MAX_REFUSE_MS:.0f}]\n".encode()
            return response(400, message, keep_alive=keep_alive), keep_alive, None
        now = time.time_ns()
        if (self.hang_log and now < self.hang_log[-1][1]) or self.draining:
            return response(409, b"busy: a hang or shutdown is under way\n", keep_alive=keep_alive), keep_alive, None
        self.hang_log.append((now, now + round(ms * 1e6)))
        body = json.dumps({"hang_ms": ms}).encode()
        return response(202, body, content_type=_JSON, keep_alive=keep_alive), keep_alive, None

    # --- the refuse window ----------------------------------------------------------------

    def begin_refuse(self, seconds: float) -> None:
        """Stop listening for exactly ``seconds`` and close established connections at the start."""
        _realtime(True)
        for server in self._servers:
            server.close()  # closes the listening fd at once (measured, see the tests)
        self._servers = []
        begin_ns = time.time_ns()
        for conn in list(self.conns):
            conn.close()
        # Bound now, listening only at the deadline: a bound socket that does not listen refuses,
        # so the end instant is one listen() call, not a bind whose cost varies.
        try:
            socks = [bound_socket(host, port) for host, port in self.config.listen]
        except OSError as exc:
            log.error("refuse window: cannot bind again: %s", exc)
            socks = []
        # The deadline is on the wall clock the log uses: one clock, no offset between two.
        self._window = (begin_ns, begin_ns + round(seconds * 1e9), socks)
        loop = asyncio.get_running_loop()
        self._window_timer = loop.call_later(max(0.0, seconds - EARLY_S), self._end_refuse)

    def _end_refuse(self) -> None:
        assert self._window is not None
        begin_ns, deadline_ns, socks = self._window
        # Loop timers are ms-granular and, on a busy machine, fire ms late: the timer fires
        # EARLY_S early, a sleep gets within 0.1 ms and a short spin does the rest. Nothing is
        # served meanwhile anyway: the window is on.
        while (left_ns := deadline_ns - time.time_ns()) > 200_000:
            time.sleep((left_ns - 100_000) / 1e9)
        while time.time_ns() < deadline_ns:
            pass
        for sock in socks:
            sock.listen(BACKLOG)
        end_ns = time.time_ns()
        _realtime(False)
        self.chaos_log.append((begin_ns, end_ns))
        self._window = None
        self._window_timer = None
        task = asyncio.get_running_loop().create_task(self._serve_listening(socks))
        task.add_done_callback(_log_task_error)

    async def _serve_listening(self, socks: list[socket.socket]) -> None:
        """Hand listening sockets to the loop (connections queue in the backlog meanwhile)."""
        loop = asyncio.get_running_loop()
        for sock in socks:
            if self.draining:
                sock.close()
                continue
            server = await loop.create_server(self._factory, sock=sock, backlog=BACKLOG, ssl=self._ssl)
            self._servers.append(server)

    # --- shutdown -------------------------------------------------------------------------

    def echo_opened(self, conn: EchoConnection) -> None:
        self.conns.add(conn)
        self.stats.tcp_connections += 1

    def echoed(self, size: int) -> None:
        self.stats.tcp_bytes += size

    def connection_gone(self, conn: Connection) -> None:
        self.conns.discard(conn)
        if not self.conns and self._all_gone is not None:
            self._all_gone.set()

    async def shutdown(self) -> None:
        """After SIGTERM: serve on for the shutdown delay, stop listening, let begun requests
        finish, close idle keep-alive connections."""
        if self.config.shutdown_delay_s > 0:
            await asyncio.sleep(self.config.shutdown_delay_s)
        self.draining = True
        for server in self._servers:
            server.close()
        self._servers = []
        if self._handoff is not None:
            self._handoff.close()
        if self._window_timer is not None:
            self._window_timer.cancel()
        if self._window is not None:
            for sock in self._window[2]:
                sock.close()
            self._window = None
            _realtime(False)
        self._all_gone = asyncio.Event()
        for conn in list(self.conns):
            if conn.idle:
                conn.close()
        if self.conns:
            try:
                await asyncio.wait_for(self._all_gone.wait(), DRAIN_S)
            except TimeoutError:
                for conn in list(self.conns):
                    conn.abort()
        await asyncio.sleep(0)  # let the loop deliver the closes before the process exits


def _window_ms(request: Request) -> float | None:
    """The ``ms`` query parameter of a chaos request, when it is a number in (0, MAX_REFUSE_MS]."""
    raw = query_param(request.query, "ms")
    try:
        ms = float(raw) if raw is not None else -1.0
    except ValueError:
        return None
    return ms if 0 < ms <= MAX_REFUSE_MS else None


def _server_tls(config: TargetConfig) -> Any:
    """The TLS context of every port when a certificate is configured; ``ssl`` is imported only then
    (pod start latency includes this package's imports)."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(config.tls_cert, config.tls_key)
    return ctx


def _realtime(on: bool) -> None:
    """Real-time scheduling for the (idle) refuse window, where permitted (root/CAP_SYS_NICE).

    Measured on 2 shared cores under load: a normal process was now and then not run for
    5-15 ms after its timer fired, stretching the window; as a SCHED_FIFO sleeper every one of
    180 windows ended within 0.2 ms. The process does next to nothing meanwhile (no listener,
    no connections), so it takes no CPU from others. Unprivileged: normal scheduling.
    """
    policy, priority = (os.SCHED_FIFO, 1) if on else (os.SCHED_OTHER, 0)
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, policy, os.sched_param(priority))


def _log_adopt_error(task: asyncio.Task[tuple[asyncio.Transport, Connection]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("adopting a handed-over connection failed: %s", task.exception())


def _log_task_error(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("listening again failed: %s", task.exception())
