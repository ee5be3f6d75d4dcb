"""TCP echo connections (``CHAOSKIT_PROTOCOL=tcp-echo``): a stand-in for a non-HTTP Service (a database, a queue)
that tcp-mode load connects to. Every byte received is written back; the client's EOF closes the connection."""

from __future__ import annotations

import asyncio
from typing import Protocol, cast


class EchoHost(Protocol):
    """What an echo connection reports to the service behind it."""

    def echo_opened(self, conn: EchoConnection) -> None: ...

    def echoed(self, size: int) -> None: ...

    def connection_gone(self, conn: EchoConnection) -> None: ...


class EchoConnection(asyncio.Protocol):
    __slots__ = ("_host", "transport")

    def __init__(self, host: EchoHost) -> None:
        self._host = host
        self.transport: asyncio.Transport | None = None

    @property
    def idle(self) -> bool:
        """Echoing never leaves a request half answered: closing at any moment loses nothing sent."""
        return True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._host.echo_opened(self)

    def data_received(self, data: bytes) -> None:
        self._host.echoed(len(data))
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def eof_received(self) -> bool:
        return False  # close once the echo is flushed

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._host.connection_gone(self)
