"""Minimal HTTP/1.1 request-head parsing and response building for the target service (no I/O)."""

from __future__ import annotations

from typing import Final, NamedTuple

MAX_HEAD: Final = 64 * 1024
"""Largest request head (request line + headers) accepted; beyond it the answer is 431."""
MAX_BODY: Final = 16 * 1024 * 1024
"""Largest Content-Length accepted; beyond it the answer is 413."""

_REASONS: Final = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    301: "Moved Permanently", 302: "Found", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}
METHODS: Final = frozenset((b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS"))
_NO_BODY: Final = frozenset((204, 304))
ECHO_PATH: Final = "/echo"
"""The one route whose request body is kept (and answered back); every other body is counted off."""


class BadRequest(Exception):
    """The request cannot be understood; answer ``status`` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Request(NamedTuple):
    method: bytes
    path: str
    query: str
    keep_alive: bool
    """HTTP/1.1 keeps the connection unless ``Connection: close``; HTTP/1.0 only on keep-alive."""
    body_length: int
    expect_continue: bool
    head: bytes = b""
    """The raw request head: the few routes that read a header parse it from here (``header``)."""


def parse_head(head: bytes) -> Request:
    """Parse a request head (without the final blank line). Raises BadRequest."""
    line_end = head.find(b"\r\n")
    request_line = head if line_end < 0 else head[:line_end]
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    keep_alive = version == b"HTTP/1.1"
    body_length = 0
    expect_continue = False
    if line_end >= 0:
        for line in head[line_end + 2:].split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep:
                raise BadRequest(400, "malformed header line")
            name = name.strip().lower()
            if name == b"connection":
                tokens = value.strip().lower()
                keep_alive = (b"close" not in tokens) and (keep_alive or b"keep-alive" in tokens)
            elif name == b"content-length":
                body_length = _content_length(value)
            elif name == b"transfer-encoding":
                raise BadRequest(501, "transfer-encoding is not supported; send Content-Length")
            elif name == b"expect":
                expect_continue = value.strip().lower() == b"100-continue"
    path, _, query = target.decode("latin-1").partition("?")
    return Request(method, path, query, keep_alive, body_length, expect_continue, head)


def header(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (lowercase) in a raw head; parsed on demand, off the common path."""
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def _content_length(value: bytes) -> int:
    text = value.strip()
    if not text.isdigit():
        raise BadRequest(400, "bad Content-Length")
    length = int(text)
    if length > MAX_BODY:
        raise BadRequest(413, "body too large")
    return length


def query_param(query: str, name: str) -> str | None:
    """The first value of ``name`` in a query string (no percent-decoding: values here are numbers)."""
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    return None


def response(status: int, body: bytes, *, content_type: bytes = b"text/plain",
             keep_alive: bool = True, head_only: bool = False) -> bytes:
    """A complete HTTP/1.1 response; ``head_only`` drops the body (HEAD) but keeps its length."""
    reason = _REASONS.get(status, "Unknown")
    if status in _NO_BODY:
        body = b""
    parts = [
        b"HTTP/1.1 %d %s\r\n" % (status, reason.encode()),
        b"Content-Type: %s\r\nContent-Length: %d\r\n" % (content_type, len(body)),
        b"" if keep_alive else b"Connection: close\r\n",
        b"\r\n",
        b"" if head_only else body,
    ]
    return b"".join(parts)


CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
