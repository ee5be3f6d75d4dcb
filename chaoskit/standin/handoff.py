"""Receiving client connections the local Service proxy accepted and hands over (SCM_RIGHTS).

After the hand-over the connection runs client <-> this process directly, as it does after kube-proxy's
DNAT: the proxy is out of the data path, and the connection breaks when this process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Callable

_LINGER_RST = struct.pack("ii", 1, 0)
MAX_FDS = 64


def reset_socket(sock: socket.socket) -> None:
    """Close with a TCP RST: the client sees a reset, as when the proxy cannot reach a backend."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    sock.close()


class HandoffReceiver:
    """A unix socket server; every fd received is passed to ``adopt`` (which may refuse it)."""

    def __init__(self, path: str, adopt: Callable[[socket.socket], None]) -> None:
        self._path = path
        self._adopt = adopt
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self._path)
        server.listen(16)
        server.setblocking(False)
        self._server = server
        asyncio.get_running_loop().add_reader(server.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._server is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            conn, _ = self._server.accept()
            conn.setblocking(False)
            self._conns.append(conn)
            asyncio.get_running_loop().add_reader(conn.fileno(), self._receive, conn)

    def _receive(self, conn: socket.socket) -> None:
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(conn, MAX_FDS, MAX_FDS)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            for fd in fds:
                self._adopt(socket.socket(fileno=fd))
            if not data:
                self._drop(conn)
                return

    def _drop(self, conn: socket.socket) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(conn.fileno())
        with contextlib.suppress(ValueError):
            self._conns.remove(conn)
        conn.close()

    def close(self) -> None:
        for conn in list(self._conns):
            self._drop(conn)
        if self._server is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._server.fileno())
            self._server.close()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
