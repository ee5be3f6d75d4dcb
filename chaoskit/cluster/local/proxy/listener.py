"""One Service proxy listener (a ClusterIP or NodePort address): socket, endpoint set, connections.

While the endpoint set is empty the address is bound but not listening, so clients get ECONNREFUSED
as kube-proxy's REJECT rule for a Service without endpoints makes them; it listens again once
endpoints exist.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Final

from chaoskit.cluster.local.proxy.conn import ClientSide
from chaoskit.cluster.local.proxy.handoff import Endpoint
from chaoskit.cluster.local.proxy.health import socket_drops
from chaoskit.sockets import bound_socket

BACKLOG: Final = 4096
"""Accept queue length (capped by net.core.somaxconn): large, so bursts are not dropped."""

log = logging.getLogger("chaoskit.proxy")


class Listener:
    """Accepts on one address and relays each connection to an endpoint chosen at accept time."""

    def __init__(self, listener_id: str, host: str, port: int, *, backlog: int = BACKLOG) -> None:
        self.id = listener_id
        self.host = host
        self.port = port
        self.backlog = backlog
        self.endpoints: tuple[Endpoint, ...] = ()
        self.conns: set[ClientSide] = set()
        self.closed = False
        self._sock: socket.socket | None = None
        self._server: asyncio.Server | None = None
        self._past_drops = 0
        """Accept-queue drops of the listening sockets this listener has closed (the count is per socket)."""

    def drops(self) -> int:
        """Connections the kernel dropped for a full accept queue on this address, since it was created."""
        return self._past_drops + (socket_drops(self._sock) if self._sock is not None else 0)

    def _close_sock(self, sock: socket.socket) -> None:
        self._past_drops += socket_drops(sock)
        sock.close()

    def bind(self) -> None:
        """Reserve the address (raises OSError, e.g. address in use). No endpoints yet: refused."""
        self._sock = bound_socket(self.host, self.port)

    def _new_client(self) -> ClientSide:
        # Called by the loop at accept time, so the endpoint set captured is the one in force then.
        return ClientSide(self.endpoints, self.conns)

    async def set_endpoints(self, endpoints: tuple[Endpoint, ...]) -> None:
        """Replace the endpoint set; established connections keep their endpoint (like conntrack).

        Raises OSError when the address cannot be bound again after an empty period.
        """
        old = self.endpoints
        self.endpoints = endpoints
        if endpoints and self._server is None:
            await self._start_listening()
        elif not endpoints and self._server is not None:
            self._stop_listening(old)

    async def _start_listening(self) -> None:
        if self._sock is None:
            self._sock = bound_socket(self.host, self.port)
        self._sock.listen(self.backlog)
        # The loop takes ownership of the fd it is given; keeping our own duplicate lets
        # _stop_listening drain the accept queue after the loop has stopped accepting.
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_client, sock=self._sock.dup(),
                                                backlog=self.backlog)

    def _stop_listening(self, old: tuple[Endpoint, ...]) -> None:
        """Stop accepting. Connections whose handshake already completed (in the accept queue) are
        relayed to the old endpoint set: with iptables their DNAT happened at SYN time, before the
        change. Anything arriving after the socket is closed is refused, as REJECT would do."""
        assert self._server is not None and self._sock is not None
        self._server.close()
        self._server = None
        sock, self._sock = self._sock, None
        self._drain_accept_queue(sock, old)
        self._close_sock(sock)
        self._sock = bound_socket(self.host, self.port)

    def _drain_accept_queue(self, sock: socket.socket, old: tuple[Endpoint, ...]) -> None:
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        while True:
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("listener %s: accept while draining: %s", self.id, exc)
                return
            conn.setblocking(False)
            coro = loop.connect_accepted_socket(lambda: self._adopted_client(old), conn)
            asyncio.ensure_future(coro).add_done_callback(_log_failed_accept)

    def _adopted_client(self, old: tuple[Endpoint, ...]) -> ClientSide:
        # Adoption completes a loop turn later: if the listener was closed meanwhile, the
        # connection gets no endpoint, hence a reset, like every other one it had.
        return ClientSide(() if self.closed else old, self.conns)

    def close(self) -> None:
        """Stop listening, release the address, and reset every connection this listener relays."""
        self.closed = True
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._sock is not None:
            self._close_sock(self._sock)
            self._sock = None
        for conn in list(self.conns):
            conn.reset_both()
        self.conns.clear()


def _log_failed_accept(future: asyncio.Task[tuple[asyncio.Transport, ClientSide]]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("adopting a drained connection failed: %s", future.exception())
