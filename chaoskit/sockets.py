"""Sockets shared by the local proxy and the target: stdlib only, so importing it stays cheap."""

from __future__ import annotations

import socket


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` but not listening yet (connects to it are refused).

    SO_REUSEADDR: re-binding at once must work while accepted connections or TIME_WAIT entries remain.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock
