"""A minimal HTTP/1.1 GET on gevent sockets for the agent process: exactly one attempt, never a retry.

Imported only inside the agent process (gevent); the chaoskit process never imports this module.
"""

from __future__ import annotations

import socket as _stdlib_socket
from dataclasses import dataclass, field
from typing import Any, Final

import gevent
from gevent import socket as gsocket

from chaoskit.load.records import Outcome

_MAX_HEAD: Final = 65536
_RECV: Final = 65536
_CONNECTING: Final = 0
_EXCHANGING: Final = 1


class _Deadline(Exception):
    """The per-request budget (connect + full response) ran out."""


class _PeerEOF(Exception):
    """The server closed the connection before a complete response."""


class _BadResponse(Exception):
    """Bytes arrived that are not an HTTP/1.x response we can frame."""


@dataclass(slots=True)
class Endpoint:
    """One target resolved once, with its two pre-built request heads and a keep-alive pool."""

    family: int
    sockaddr: tuple[Any, ...]
    keepalive: bool
    request: bytes
    idle: list[Any] = field(default_factory=list)
    """Idle keep-alive sockets; a socket is in here only after a fully framed, reusable response."""

    @classmethod
    def resolve(cls, host: str, port: int, path: str, *, keepalive: bool) -> Endpoint:
        # Resolve once: a per-request lookup would cost a threadpool hop and measure DNS, not the service.
        family, _, _, _, sockaddr = _stdlib_socket.getaddrinfo(
            host, port, type=_stdlib_socket.SOCK_STREAM)[0]
        host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        conn = "keep-alive" if keepalive else "close"
        head = f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: {conn}\r\n" \
               "User-Agent: chaoskit-load\r\n\r\n"
        return cls(family, tuple(sockaddr), keepalive, head.encode("ascii"))

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


def get(endpoint: Endpoint, timeout_s: float) -> tuple[Outcome, int]:
    """One GET: returns (outcome, HTTP status or 0). Failures are classified, never retried."""
    sock: Any = None
    phase = _CONNECTING
    timer = gevent.Timeout.start_new(timeout_s, _Deadline)
    try:
        if endpoint.keepalive and endpoint.idle:
            sock = endpoint.idle.pop()
        else:
            sock = gsocket.socket(endpoint.family, _stdlib_socket.SOCK_STREAM)
            sock.setsockopt(_stdlib_socket.IPPROTO_TCP, _stdlib_socket.TCP_NODELAY, 1)
            sock.connect(endpoint.sockaddr)
        phase = _EXCHANGING
        sock.sendall(endpoint.request)
        status, reusable = _read_response(sock)
        if endpoint.keepalive and reusable:
            endpoint.idle.append(sock)
            sock = None
        return _classify_status(status), status
    except _Deadline:
        return (Outcome.CONNECT_TIMEOUT if phase == _CONNECTING else Outcome.TIMEOUT), 0
    except ConnectionRefusedError:
        return Outcome.REFUSED, 0
    except (ConnectionResetError, BrokenPipeError, _PeerEOF):
        return Outcome.RESET, 0
    except (OSError, _BadResponse):
        return Outcome.ERROR, 0
    finally:
        timer.close()
        if sock is not None:
            # A failed or non-reusable connection is discarded; the next request opens a fresh one.
            sock.close()


def _classify_status(status: int) -> Outcome:
    if status >= 500:
        return Outcome.HTTP_5XX
    if status >= 400:
        return Outcome.HTTP_4XX
    return Outcome.OK


def _read_response(sock: Any) -> tuple[int, bool]:
    """Read one full response; returns (status, whether the connection may carry another request)."""
    buf = b""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        if len(buf) > _MAX_HEAD:
            raise _BadResponse("response head too large")
        chunk = sock.recv(_RECV)
        if not chunk:
            raise _PeerEOF
        buf += chunk
    status, version, headers = _parse_head(buf[:end])
    body = buf[end + 4:]
    conn = headers.get("connection", "")
    reusable = "close" not in conn if version == "1.1" else "keep-alive" in conn
    if status in (204, 304) or 100 <= status < 200:
        return status, reusable
    if "chunked" in headers.get("transfer-encoding", ""):
        _read_chunked(sock, body)
        return status, reusable
    length = headers.get("content-length")
    if length is None:
        # No framing: the body ends at EOF, so the connection cannot be reused.
        while sock.recv(_RECV):
            pass
        return status, False
    _read_exactly(sock, body, int(length))
    return status, reusable


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise _BadResponse(f"bad status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip().lower()
    return int(parts[1]), parts[0][5:], headers


def _read_exactly(sock: Any, have: bytes, length: int) -> bytes:
    while len(have) < length:
        chunk = sock.recv(max(_RECV, length - len(have)))
        if not chunk:
            raise _PeerEOF
        have += chunk
    return have[length:]


def _read_line(sock: Any, buf: bytes) -> tuple[bytes, bytes]:
    while (end := buf.find(b"\r\n")) < 0:
        if len(buf) > _MAX_HEAD:
            raise _BadResponse("chunk line too long")
        chunk = sock.recv(_RECV)
        if not chunk:
            raise _PeerEOF
        buf += chunk
    return buf[:end], buf[end + 2:]


def _read_chunked(sock: Any, buf: bytes) -> None:
    while True:
        line, buf = _read_line(sock, buf)
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError as exc:
            raise _BadResponse("bad chunk size") from exc
        if size == 0:
            break
        buf = _read_exactly(sock, buf, size + 2)
    # Trailers end with an empty line.
    while True:
        line, buf = _read_line(sock, buf)
        if not line:
            return
