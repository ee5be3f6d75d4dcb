"""One HTTP/1.1 connection of the target service: buffers bytes, cuts requests, writes responses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, cast

from chaoskit.target.http import CONTINUE, MAX_HEAD, METHODS, BadRequest, Request, parse_head, response

Reply = tuple[bytes, bool, Callable[[], None] | None]
"""(response bytes, keep the connection open, action to run once the response is written)"""


class Handler(Protocol):
    """What a connection needs from the service behind it."""

    conns: set[HttpConnection]
    draining: bool

    def handle(self, request: Request, body: bytes, *, keep_alive: bool) -> Reply: ...

    def connection_gone(self, conn: HttpConnection) -> None: ...


class HttpConnection(asyncio.Protocol):
    """Serves requests in order (pipelining works); every request is answered before the next is read."""

    __slots__ = ("_buffer", "_handler", "_request", "transport")

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._buffer = b""
        self._request: Request | None = None
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
        while buffer:
            if self._request is None:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEAD:
                        self._fail(431, "request head too large")
                        return
                    break
                try:
                    request = parse_head(buffer[:end])
                except BadRequest as exc:
                    self._fail(exc.status, str(exc))
                    return
                buffer = buffer[end + 4:]
                if request.method not in METHODS:
                    self._fail(405, "only GET, HEAD and POST")
                    return
                self._request = request
                if request.expect_continue and len(buffer) < request.body_length:
                    self._write(CONTINUE)
            request = self._request
            if len(buffer) < request.body_length:
                break
            body, buffer = buffer[:request.body_length], buffer[request.body_length:]
            self._request = None
            if not self._respond(request, body):
                buffer = b""
                break
        self._buffer = buffer

    def _respond(self, request: Request, body: bytes) -> bool:
        """Answer one request; False when the connection is now closing."""
        keep_alive = request.keep_alive and not self._handler.draining
        payload, keep_alive, after = self._handler.handle(request, body, keep_alive=keep_alive)
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
