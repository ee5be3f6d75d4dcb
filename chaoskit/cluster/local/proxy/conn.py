"""The Service proxy data path for one client connection: a relay to the endpoint picked at accept.

Faithful to kube-proxy's iptables DNAT where it changes what clients see: the endpoint is fixed for
the connection's life (conntrack), a failed backend connect is a RST (no retry), a reset on one side
is a reset on the other, and half-close is relayed (both sides close only after both EOFs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from typing import Final, cast

from chaoskit.cluster.local.proxy.handoff import Endpoint, HandoffSender

HANDOFF: Final = HandoffSender()
"""This proxy process's hand-over sender: which endpoints take hand-overs, and the unix connections to them."""
_LINGER_RST: Final = struct.pack("ii", 1, 0)
_MAX_PENDING: Final = 256 * 1024
"""Bytes a client may send before its backend is connected; reading pauses beyond this."""
_LOG_EVERY_NS: Final = 1_000_000_000

log = logging.getLogger("chaoskit.proxy")
_last_logged: dict[tuple[Endpoint, str], int] = {}
_suppressed: dict[tuple[Endpoint, str], int] = {}


def reset(transport: asyncio.Transport) -> None:
    """Close ``transport`` with a TCP RST (SO_LINGER 0): the peer sees a reset, not an EOF."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    transport.abort()


def _log_connect_failure(endpoint: Endpoint, exc: BaseException) -> None:
    """Log at most once a second per endpoint and error: during propagation there can be thousands.

    A flood of lines would also fill a stderr pipe the parent does not drain and stall the proxy.
    """
    key = (endpoint, type(exc).__name__)
    now = time.monotonic_ns()
    if now - _last_logged.get(key, 0) < _LOG_EVERY_NS:
        _suppressed[key] = _suppressed.get(key, 0) + 1
        return
    _last_logged[key] = now
    more = _suppressed.pop(key, 0)
    log.warning("connect to %s:%d failed: %s (+%d similar)", endpoint[0], endpoint[1], exc, more)


class ClientSide(asyncio.Protocol):
    """The accepted connection. Picks its endpoint at accept and connects to it."""

    __slots__ = ("_backend", "_connecting", "_conns", "_endpoints", "_pending", "_pending_size",
                 "endpoint", "eof", "transport")

    def __init__(self, endpoints: tuple[Endpoint, ...], conns: set[ClientSide]) -> None:
        self._endpoints = endpoints
        self._conns = conns
        self._backend = BackendSide(self)
        self._connecting: asyncio.Task[tuple[asyncio.Transport, BackendSide]] | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.endpoint: Endpoint | None = None
        self.eof = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, base)  # uvloop's is not a subclass
        self._conns.add(self)
        if not self._endpoints:  # only possible for a connection drained from a closing listener
            reset(transport)
            return
        endpoints = self._endpoints
        self.endpoint = host, port = (
            endpoints[0] if len(endpoints) == 1 else random.choice(endpoints))
        if HANDOFF.path_of(self.endpoint) is not None:
            self._hand_off(transport)
            return
        loop = asyncio.get_running_loop()
        connecting = loop.create_task(loop.create_connection(self._backend, host, port))
        connecting.add_done_callback(self._connected)
        self._connecting = connecting

    def _hand_off(self, transport: asyncio.Transport) -> None:
        """Give the connection to the pod (it now owns it); a pod that cannot take it means a reset."""
        assert self.endpoint is not None
        transport.pause_reading()  # nothing may be read here: the request belongs to the pod
        sock = transport.get_extra_info("socket")
        path = HANDOFF.path_of(self.endpoint)
        if sock is None or path is None or not HANDOFF.send(path, sock.fileno()):
            reset(transport)
            if self.endpoint is not None:
                _log_connect_failure(self.endpoint, ConnectionRefusedError("hand-over refused"))
            return
        self._conns.discard(self)
        self.transport = None
        transport.close()  # closes only our duplicate: the pod's copy keeps the connection open

    def _connected(self, future: asyncio.Task[tuple[asyncio.Transport, BackendSide]]) -> None:
        self._connecting = None
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            return  # BackendSide.connection_made has taken over
        if self.transport is not None and not self.transport.is_closing():
            reset(self.transport)
        if self.endpoint is not None:
            _log_connect_failure(self.endpoint, exc)

    def take_pending(self) -> list[bytes]:
        """Hand the bytes received before the backend connected over to it (once)."""
        paused = self._pending_size > _MAX_PENDING
        pending, self._pending, self._pending_size = self._pending, [], 0
        if paused and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        return pending

    def data_received(self, data: bytes) -> None:
        backend = self._backend.transport
        if backend is not None:
            backend.write(data)
            return
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > _MAX_PENDING and self.transport is not None:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        backend = self._backend.transport
        if backend is None:
            return True  # BackendSide.connection_made relays the EOF after the pending bytes
        if self._backend.eof:
            self.close_both()
        elif not backend.is_closing():
            backend.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._conns.discard(self)
        if self._connecting is not None:
            self._connecting.cancel()
        backend = self._backend.transport
        if backend is not None and not backend.is_closing():
            if exc is None:
                backend.close()
            else:
                reset(backend)

    def pause_writing(self) -> None:
        backend = self._backend.transport
        if backend is not None and not backend.is_closing():
            backend.pause_reading()

    def resume_writing(self) -> None:
        backend = self._backend.transport
        if backend is not None and not backend.is_closing():
            backend.resume_reading()

    def close_both(self) -> None:
        """Both directions have ended: close both sides (flushing what is buffered)."""
        for transport in (self.transport, self._backend.transport):
            if transport is not None and not transport.is_closing():
                transport.close()

    def reset_both(self) -> None:
        """The listener is going away: reset both sides now."""
        if self._connecting is not None:
            self._connecting.cancel()
        for transport in (self.transport, self._backend.transport):
            if transport is not None and not transport.is_closing():
                reset(transport)


class BackendSide(asyncio.Protocol):
    """The connection to the chosen endpoint; relays to and from its ClientSide."""

    __slots__ = ("_client", "eof", "transport")

    def __init__(self, client: ClientSide) -> None:
        self._client = client
        self.eof = False
        self.transport: asyncio.Transport | None = None

    def __call__(self) -> BackendSide:
        """Its own protocol factory: saves a closure per connection."""
        return self

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)  # uvloop's is not a subclass
        client = self._client
        client_transport = client.transport
        if client_transport is None or client_transport.is_closing():
            transport.close()  # the client left while we were connecting
            return
        self.transport = transport
        for chunk in client.take_pending():
            transport.write(chunk)
        if client.eof:
            transport.write_eof()

    def data_received(self, data: bytes) -> None:
        client = self._client.transport
        if client is not None:
            client.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        client = self._client
        if client.eof:
            client.close_both()
        elif client.transport is not None and not client.transport.is_closing():
            client.transport.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        client = self._client.transport
        if client is not None and not client.is_closing():
            if exc is None:
                client.close()
            else:
                reset(client)

    def pause_writing(self) -> None:
        client = self._client.transport
        if client is not None and not client.is_closing():
            client.pause_reading()

    def resume_writing(self) -> None:
        client = self._client.transport
        if client is not None and not client.is_closing():
            client.resume_reading()
