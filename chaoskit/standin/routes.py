"""Routes for shaped load (a fixed status, a header-guarded path, a body echo) and the target's own request
counts, which tests compare with what the load agent recorded.

| route | answer |
| --- | --- |
| ``/status/NNN`` (any method) | status NNN (200-599), e.g. ``/status/503``, ``/status/302`` |
| ``/auth`` (any method) | 200 with ``Authorization: Bearer <CHAOSKIT_AUTH_TOKEN>``; 401 without; 403 other |
| ``/echo`` (any method) | 200 with the request body as the response body |
| ``GET /chaos/stats`` | JSON: requests per "METHOD path" (not counting /chaos/*; unknown paths as "other"), |
| | echo_bytes, tcp_connections, tcp_bytes |
"""

from __future__ import annotations

import json
from typing import Final

from chaoskit.standin.conn import Reply
from chaoskit.standin.http import ECHO_PATH, Request, header, response

STATUS_PREFIX: Final = "/status/"
PLAIN_PATHS: Final = frozenset(("/", "/healthz"))
"""The routes every load and probe hits by default: served first, without the shaped routes' checks."""
AUTH_PATH: Final = "/auth"
_COUNTED: Final = PLAIN_PATHS | {ECHO_PATH, AUTH_PATH}
_JSON: Final = b"application/json"


class Stats:
    """What this process served: the target's own count, independent of any client's."""

    def __init__(self) -> None:
        self.requests: dict[tuple[bytes, str], int] = {}
        """(method, path) -> requests; paths outside the known routes share the path ``other``."""
        self.echo_bytes = 0
        self.tcp_connections = 0
        self.tcp_bytes = 0

    def count(self, method: bytes, path: str) -> None:
        if not (path in _COUNTED or (path.startswith(STATUS_PREFIX) and len(path) == len(STATUS_PREFIX) + 3)):
            path = "other"  # a bounded table whatever paths clients invent
        key = (method, path)
        self.requests[key] = self.requests.get(key, 0) + 1

    def to_json(self) -> bytes:
        requests = {f"{m.decode()} {p}": n for (m, p), n in sorted(self.requests.items())}
        return json.dumps({"requests": requests, "echo_bytes": self.echo_bytes,
                           "tcp_connections": self.tcp_connections, "tcp_bytes": self.tcp_bytes},
                          sort_keys=True).encode()


def shaped_route(request: Request, body: bytes, *, keep_alive: bool, token: str, stats: Stats) -> Reply | None:
    """The answer of a shaped-load route, or None when ``request`` is for another route."""
    path = request.path
    head_only = request.method == b"HEAD"
    if path == ECHO_PATH:
        stats.echo_bytes += len(body)
        return response(200, body, content_type=b"application/octet-stream", keep_alive=keep_alive,
                        head_only=head_only), keep_alive, None
    if path == AUTH_PATH:
        given = header(request.head, b"authorization")
        status = 401 if given is None else 200 if given == f"Bearer {token}".encode() else 403
        return response(status, b"%d\n" % status, keep_alive=keep_alive, head_only=head_only), keep_alive, None
    if path.startswith(STATUS_PREFIX):
        code = path[len(STATUS_PREFIX):]
        if len(code) == 3 and code.isdigit() and 200 <= int(code) <= 599:
            return response(int(code), f"status {code}\n".encode(), keep_alive=keep_alive,
                            head_only=head_only), keep_alive, None
        return response(400, b"/status/NNN with NNN in 200-599\n", keep_alive=keep_alive), keep_alive, None
    if path == "/chaos/stats":
        return response(200, stats.to_json(), content_type=_JSON, keep_alive=keep_alive,
                        head_only=head_only), keep_alive, None
    return None
