"""A minimal HTTP/1.1 client (optionally over TLS) on gevent sockets for the agent process: exactly one
attempt per request, never a retry.

Imported only inside the agent process (gevent); the chaoskit process never imports this module.
"""

from __future__ import annotations

import socket as _stdlib_socket
import ssl as _stdlib_ssl
import time
from dataclasses import dataclass, field
from typing import Any, Final

import gevent
from gevent import socket as gsocket
from gevent import ssl as gssl

from chaoskit.load.plan import LoadTarget
from chaoskit.load.records import Outcome
from chaoskit.load.shape import RequestShape, http_request, make_ssl_context

_MAX_HEAD: Final = 65536
_RECV: Final = 65536
_CONNECTING: Final = 0
_EXCHANGING: Final = 1
_CLOSING: Final = 2
_STATUSES: Final = 1000
"""Three-digit statuses: the outcome of each is looked up, not computed, per response."""


class _Deadline(Exception):
    """The per-request budget (connect + full response) ran out."""


class _PeerEOF(Exception):
    """The server closed the connection before a complete response."""


class _BadResponse(Exception):
    """Bytes arrived that are not an HTTP/1.x response we can frame."""


@dataclass(slots=True)
class Endpoint:
    """One target resolved once, with its pre-built requests and its keep-alive pool."""

    family: int
    sockaddr: tuple[Any, ...]
    keepalive: bool
    requests: tuple[bytes, ...]
    """Request i sends ``requests[i % len(requests)]`` (the shape's path interleaving)."""
    outcomes: tuple[Outcome, ...] = ()
    """Outcome of every status 0..999 under the shape's success rule."""
    head_only: bool = False
    """HEAD: a response never carries a body, whatever its Content-Length says."""
    tls: Any = None
    """A gevent ``SSLContext`` when the target is loaded over https."""
    server_name: str | None = None
    shape: RequestShape = field(default_factory=RequestShape)
    idle: list[Any] = field(default_factory=list)
    """Idle keep-alive sockets; a socket is in here only after a fully framed, reusable response."""
    opened: int = 0
    """Connections attempted so far (each connect() call)."""

    @classmethod
    def resolve(cls, target: LoadTarget, *, keepalive: bool) -> Endpoint:
        # Resolve once: a per-request lookup would cost a threadpool hop and measure DNS, not the service.
        family, _, _, _, sockaddr = _stdlib_socket.getaddrinfo(
            target.host, target.port, type=_stdlib_socket.SOCK_STREAM)[0]
        shape = target.request
        requests = tuple(http_request(shape, target.host, target.port, path, keepalive=keepalive)
                         for path in shape.path_cycle(target.path)) if shape.mode == "http" else ()
        tls = make_ssl_context(shape, gssl) if shape.https else None
        server_name = shape.tls_server_name(target.host) if shape.https and not shape.insecure else None
        return cls(family, tuple(sockaddr), keepalive and shape.mode == "http", requests,
                   outcomes=outcome_table(shape), head_only=shape.method == "HEAD", tls=tls,
                   server_name=server_name, shape=shape)

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


def outcome_table(shape: RequestShape) -> tuple[Outcome, ...]:
    """Status -> outcome: success per the shape, else 5xx, 4xx, or anything else (``http_other``)."""
    def outcome(status: int) -> Outcome:
        if shape.is_success(status):
            return Outcome.OK
        if 500 <= status <= 599:
            return Outcome.HTTP_5XX
        if 400 <= status <= 499:
            return Outcome.HTTP_4XX
        return Outcome.HTTP_OTHER
    return tuple(outcome(s) for s in range(_STATUSES))


class _Attempt:
    """Progress of one request, so a failure can be classified by where it happened."""

    __slots__ = ("ended_ns", "phase", "status")

    def __init__(self) -> None:
        self.phase = _CONNECTING
        self.status = 0
        self.ended_ns = 0


def get(endpoint: Endpoint, timeout_s: float, index: int) -> tuple[Outcome, int, int]:
    """Request ``index`` of the schedule: (outcome, HTTP status or 0, perf_counter_ns when it ended).
    Never retried."""
    attempt = _Attempt()
    timer = gevent.Timeout.start_new(timeout_s, _Deadline)
    try:
        _exchange(endpoint, attempt, endpoint.requests[index % len(endpoint.requests)])
        outcome = endpoint.outcomes[attempt.status]
    except _Deadline:
        outcome = Outcome.CONNECT_TIMEOUT if attempt.phase == _CONNECTING else Outcome.TIMEOUT
    except ConnectionRefusedError:
        outcome = Outcome.REFUSED
    except (ConnectionResetError, BrokenPipeError, _PeerEOF, _stdlib_ssl.SSLEOFError,
            _stdlib_ssl.SSLZeroReturnError):
        outcome = Outcome.RESET  # the peer went away (also mid-handshake): not a TLS failure
    except _stdlib_ssl.SSLError:
        outcome = Outcome.TLS_ERROR
    except (OSError, _BadResponse):
        outcome = Outcome.ERROR
    finally:
        timer.close()
    if attempt.phase == _CLOSING:
        # The response was complete; whatever happened while waiting for the server's FIN is moot.
        return endpoint.outcomes[attempt.status], attempt.status, attempt.ended_ns
    return outcome, 0, time.perf_counter_ns()


def _exchange(endpoint: Endpoint, attempt: _Attempt, request: bytes) -> None:
    sock: Any = _idle_connection(endpoint) if endpoint.keepalive else None
    try:
        if sock is None:
            sock = gsocket.socket(endpoint.family, _stdlib_socket.SOCK_STREAM)
            sock.setsockopt(_stdlib_socket.IPPROTO_TCP, _stdlib_socket.TCP_NODELAY, 1)
            endpoint.opened += 1
            sock.connect(endpoint.sockaddr)
            if endpoint.tls is not None:
                attempt.phase = _EXCHANGING  # a handshake that stalls is a timeout, not a connect timeout
                # The TLS socket owns the fd from here: a failed handshake closes it in `finally`.
                sock = endpoint.tls.wrap_socket(sock, server_hostname=endpoint.server_name,
                                                do_handshake_on_connect=False)
                sock.do_handshake()
        attempt.phase = _EXCHANGING
        sock.sendall(request)
        attempt.status, reusable = _read_response(sock, endpoint.head_only)
        attempt.ended_ns = time.perf_counter_ns()
        attempt.phase = _CLOSING
        if endpoint.keepalive and reusable:
            endpoint.idle.append(sock)
            sock = None
        else:
            _await_peer_close(sock)
    finally:
        if sock is not None:
            # A failed or non-reusable connection is discarded; the next request opens a fresh one.
            sock.close()


def _idle_connection(endpoint: Endpoint) -> Any:
    """The most recently used idle connection the server has not already closed, if any.

    A connection whose peer closed it while idle (keep-alive timeout, or a process that died) is
    dropped without sending on it, as any keep-alive client does: no request was made on it, so this
    hides nothing. A connection that breaks once the request is sent fails that request.
    """
    while endpoint.idle:
        sock = endpoint.idle.pop()
        try:
            # On the raw socket: gevent's recv would wait for readability instead of raising.
            sock._sock.recv(1, _stdlib_socket.MSG_PEEK | _stdlib_socket.MSG_DONTWAIT)
        except BlockingIOError:
            return sock  # nothing pending: still open
        except OSError:
            pass
        sock.close()  # EOF, reset or unsolicited bytes: not reusable
    return None


def _await_peer_close(sock: Any) -> None:
    """Let the server close first after ``Connection: close``: the TIME_WAIT state then stays on its
    side, so thousands of new connections per second cannot exhaust this host's ephemeral ports."""
    while sock.recv(_RECV):
        pass


def _read_response(sock: Any, head_only: bool) -> tuple[int, bool]:
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
    if head_only or status in (204, 304) or 100 <= status < 200:
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
    # Exactly three ASCII digits: the status indexes the outcome table and fits the record's uint16.
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (
            len(parts[1]) == 3 and parts[1].isascii() and parts[1].isdigit()):
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
