"""tcp mode for Services that do not speak HTTP (databases, queues): one connection per request, optional bytes
sent, optional reply prefix checked. Exactly one attempt, never a retry.

Imported only inside the agent process (gevent); the chaoskit process never imports this module.
"""

from __future__ import annotations

import socket as _stdlib_socket
import time
from typing import Any

import gevent
from gevent import socket as gsocket

from chaoskit.load.gclient import Endpoint
from chaoskit.load.records import Outcome


class _Deadline(Exception):
    """The per-request budget (connect + reply) ran out."""


def check(endpoint: Endpoint, timeout_s: float, index: int) -> tuple[Outcome, int, int]:
    """Connect (new connection every time), send, read the reply prefix: (outcome, 0, perf_counter_ns)."""
    connected = False
    sock: Any = gsocket.socket(endpoint.family, _stdlib_socket.SOCK_STREAM)
    timer = gevent.Timeout.start_new(timeout_s, _Deadline)
    try:
        sock.setsockopt(_stdlib_socket.IPPROTO_TCP, _stdlib_socket.TCP_NODELAY, 1)
        endpoint.opened += 1
        sock.connect(endpoint.sockaddr)
        connected = True
        shape = endpoint.shape
        if shape.send:
            sock.sendall(shape.send)
        outcome = Outcome.OK
        if shape.expect and not _reply_starts_with(sock, shape.expect):
            outcome = Outcome.TCP_UNEXPECTED_REPLY
    except _Deadline:
        outcome = Outcome.TIMEOUT if connected else Outcome.CONNECT_TIMEOUT
    except ConnectionRefusedError:
        outcome = Outcome.REFUSED
    except (ConnectionResetError, BrokenPipeError):
        outcome = Outcome.RESET
    except OSError:
        outcome = Outcome.ERROR
    finally:
        timer.close()
        sock.close()
    return outcome, 0, time.perf_counter_ns()


def _reply_starts_with(sock: Any, expect: bytes) -> bool:
    """Read until ``len(expect)`` bytes arrived or the peer closed; a short reply does not match."""
    reply = b""
    while len(reply) < len(expect):
        chunk = sock.recv(len(expect) - len(reply))
        if not chunk:
            return False
        reply += chunk
        if not expect.startswith(reply):
            return False  # mismatch already: do not wait for the rest
    return True
