"""Handing an accepted client connection to the pod that serves it (SCM_RIGHTS over a unix socket).

This is how the local proxy models kube-proxy's DNAT for endpoints that accept hand-overs (the built-in
target): the proxy only accepts and picks the endpoint; the connection then runs client <-> pod directly,
so the proxy adds no per-request cost, and the connection dies with the pod as a DNATed one does.
Endpoints without a hand-over socket are relayed (``conn``).
"""

from __future__ import annotations

import contextlib
import socket

from chaoskit.cluster.local.proxy.health import HandoffCounters

Endpoint = tuple[str, int]

SEND_TIMEOUT_S = 0.5
"""A pod that does not take a hand-over within this time counts as unreachable (the client gets a reset)."""


class HandoffSender:
    """One unix connection per endpoint socket path, opened on first use and reopened once on error."""

    def __init__(self) -> None:
        self.paths: dict[Endpoint, str] = {}
        """endpoint -> the pod's hand-over socket (pod IPs are never reused, so entries never go stale)."""
        self._socks: dict[str, socket.socket] = {}
        self.failed = HandoffCounters()

    def path_of(self, endpoint: Endpoint) -> str | None:
        return self.paths.get(endpoint)

    def send(self, path: str, fd: int) -> bool:
        """Give the pod a duplicate of ``fd``; False when the pod cannot take it (dead, stopping, or
        too busy to take it within SEND_TIMEOUT_S: counted apart, that one is the embedded cluster's)."""
        timed_out = False
        for _ in range(2):  # a cached connection may be to a previous, dead process: reopen once
            sock = self._socks.get(path)
            try:
                if sock is None:
                    sock = self._socks[path] = self._connect(path)
                socket.send_fds(sock, [b"h"], [fd])
                return True
            except OSError as exc:
                # Busy, not gone: the send waited SEND_TIMEOUT_S in vain, or the pod's hand-over
                # listener has a full backlog (a unix connect then fails at once with EAGAIN).
                timed_out = isinstance(exc, TimeoutError | BlockingIOError)
                self._forget(path)
        if timed_out:
            self.failed.timeouts += 1
        else:
            self.failed.refused += 1
        return False

    @staticmethod
    def _connect(path: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(SEND_TIMEOUT_S)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return sock

    def _forget(self, path: str) -> None:
        sock = self._socks.pop(path, None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
