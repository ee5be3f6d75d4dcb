"""One HTTP/1.1 connection of the target service: buffers bytes, cuts requests, writes responses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, cast

from chaoskit.standin.http import (
    CONTINUE,
    ECHO_PATH,
    MAX_HEAD,
    METHODS,
    BadRequest,
    Request,
    parse_head,
    response,
)

Reply = tuple[bytes | None, bool, Callable[[], None] | None]
"""(response bytes, keep the connection open, action to run once the response is written); bytes None:
the request is never answered (a hung service), the connection stays open until the client closes it."""


class Handler(Protocol):
    """What a connection needs from the service behind it."""

    conns: set[HttpConnection]
    draining: bool

    def handle(self, request: Request, *, keep_alive: bool, body: bytes = b"") -> Reply: ...

    def connection_gone(self, conn: HttpConnection) -> None: ...


class HttpConnection(asyncio.Protocol):
    """Serves requests in order (pipelining works); every request is answered before the next is read."""

    __slots__ = ("_body", "_body_left", "_buffer", "_handler", "_request", "transport")

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._buffer = b""
        self._request: Request | None = None
        self._body_left = 0
        self._body: bytearray | None = None
        """The body being received, for the one route that reads it (``/echo``); None: counted off."""
        self.transport: asyncio.Transport | None = None

    @property
    def idle(self) -> bool:
        """No request partly received: closing now loses nothing the client has sent."""
        return not self._buffer and self._request is None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._handler.conns.add(self)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        self._buffer = b""
        while True:
            if self._request is not None:
                # Only /echo reads a body: others count it off instead of buffering (large POSTs stay cheap).
                taken = min(self._body_left, len(buffer))
                self._body_left -= taken
                if self._body is not None:
                    self._body += buffer[:taken]
                buffer = buffer[taken:]
                if self._body_left:
                    return
                request, self._request = self._request, None
                if not self._respond(request):
                    return
            if not buffer:
                return
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    self._fail(431, "request head too large")
                else:
                    self._buffer = buffer
                return
            if not self._begin(buffer[:end], len(buffer) - end - 4):
                return
            buffer = buffer[end + 4:]

    def _begin(self, head: bytes, available: int) -> bool:
        """Parse a head; False (after answering an error) when the connection is closing."""
        try:
            request = parse_head(head)
        except BadRequest as exc:
            self._fail(exc.status, str(exc))
            return False
        if request.method not in METHODS:
            self._fail(405, "method not supported")
            return False
        self._request = request
        self._body_left = request.body_length
        self._body = bytearray() if request.path == ECHO_PATH else None
        if request.expect_continue and available < request.body_length:
            self._write(CONTINUE)
        return True

    def _respond(self, request: Request) -> bool:
        """Answer one request; False when the connection is now closing."""
        keep_alive = request.keep_alive and not self._handler.draining
        body, self._body = bytes(self._body) if self._body is not None else b"", None
        payload, keep_alive, after = self._handler.handle(request, keep_alive=keep_alive, body=body)
        if payload is None:
            self._buffer = b""
            return False  # held: nothing more is read or answered on this connection
        self._write(payload)
        if not keep_alive:
            self.close()
        if after is not None:
            after()
        return keep_alive

    def _write(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)

    def _fail(self, status: int, message: str) -> None:
        self._write(response(status, message.encode() + b"\n", keep_alive=False))
        self._buffer = b""
        self.close()

    def close(self) -> None:
        """Close after what is already written has been sent."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def eof_received(self) -> bool:
        return False  # the client is done sending; close once our answers are flushed

    def connection_lost(self, exc: Exception | None) -> None:
        self._handler.connection_gone(self)
