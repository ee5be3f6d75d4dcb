"""What one load request looks like on the wire (HTTP method, paths, headers, body, TLS; or a TCP exchange)
and which answers count as success. Stdlib-only: the agent process (gevent) and the engine's reachability
probe both build their requests from it, so the probe asks exactly what the load will ask.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Final, Literal

Mode = Literal["http", "tcp"]
METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
METHODS_WITHOUT_BODY: Final = frozenset(("GET", "HEAD"))
RESERVED_HEADERS: Final = frozenset(("content-length", "connection", "transfer-encoding"))
"""Set by chaoskit from the body and the connection mode; a user value would contradict the framing."""
DEFAULT_SUCCESS: Final = ((200, 399),)
MAX_BODY_BYTES: Final = 64 * 1024
"""Bodies, ``send`` and CA files travel in the load plan (to an in-cluster agent through a ConfigMap)."""
MAX_CA_BYTES: Final = 256 * 1024
MAX_EXPECT_BYTES: Final = 4096
MAX_CYCLE: Final = 10_000
"""Largest sum of path weights: one cycle of the interleaving is kept in memory."""
_TOKEN_CHARS: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True, slots=True)
class RequestShape:
    """One Service's request. The default is the historical plain ``GET <target path>``, 2xx/3xx success."""

    mode: Mode = "http"
    method: str = "GET"
    paths: tuple[tuple[str, int], ...] = ()
    """(path, weight) pairs, interleaved deterministically (``path_cycle``); empty: the target's path."""
    headers: tuple[tuple[str, str], ...] = ()
    """Sent as given, in order; a ``Host`` header replaces the default ``host:port``."""
    body: bytes = b""
    success: tuple[tuple[int, int], ...] = DEFAULT_SUCCESS
    """Inclusive status ranges that count as success."""
    https: bool = False
    ca_pem: str = ""
    """PEM text of the CA bundle to verify against; empty: the system's default CAs."""
    insecure: bool = False
    """TLS without certificate verification."""
    server_name: str = ""
    """SNI and the name the certificate must carry; empty: the ``Host`` header's host, else the address."""
    send: bytes = b""
    """tcp: bytes written once connected."""
    expect: bytes = b""
    """tcp: the reply must start with these bytes."""

    def path_cycle(self, default_path: str) -> tuple[str, ...]:
        """One period of the interleaving: request i uses ``cycle[i % len(cycle)]``.

        Smooth weighted round robin (nginx's): weights 3 and 1 give a, a, b, a; no seed, so every run,
        every agent and the probe see the same sequence, and counts per path are exact per cycle.
        """
        if not self.paths:
            return (default_path,)
        current = [0] * len(self.paths)
        total = sum(w for _, w in self.paths)
        cycle = []
        for _ in range(total):
            for i, (_, weight) in enumerate(self.paths):
                current[i] += weight
            best = max(range(len(current)), key=lambda i: current[i])
            current[best] -= total
            cycle.append(self.paths[best][0])
        return tuple(cycle)

    def host_header(self, host: str, port: int) -> str:
        for name, value in self.headers:
            if name.lower() == "host":
                return value
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def tls_server_name(self, host: str) -> str:
        """The name sent as SNI and checked against the certificate."""
        if self.server_name:
            return self.server_name
        for name, value in self.headers:
            if name.lower() == "host":
                if value.startswith("["):  # [v6]:port
                    return value[1:].split("]", 1)[0]
                return value.rsplit(":", 1)[0] if value.count(":") == 1 else value
        return host

    def is_success(self, status: int) -> bool:
        return any(lo <= status <= hi for lo, hi in self.success)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; bytes as base64."""
        return {"mode": self.mode, "method": self.method, "paths": [list(p) for p in self.paths],
                "headers": [list(h) for h in self.headers], "body": _b64(self.body),
                "success": [list(r) for r in self.success], "https": self.https, "ca_pem": self.ca_pem,
                "insecure": self.insecure, "server_name": self.server_name, "send": _b64(self.send),
                "expect": _b64(self.expect)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RequestShape:
        def pairs(key: str) -> tuple[Any, ...]:
            return tuple((a, b) for a, b in raw.get(key, ()))
        return cls(mode=raw.get("mode", "http"), method=raw.get("method", "GET"), paths=pairs("paths"),
                   headers=pairs("headers"), body=base64.b64decode(raw.get("body", "")),
                   success=pairs("success") or DEFAULT_SUCCESS, https=bool(raw.get("https")),
                   ca_pem=raw.get("ca_pem", ""), insecure=bool(raw.get("insecure")),
                   server_name=raw.get("server_name", ""), send=base64.b64decode(raw.get("send", "")),
                   expect=base64.b64decode(raw.get("expect", "")))


PLAIN_GET: Final = RequestShape()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def problems(shape: RequestShape) -> list[str]:
    """Why a shape cannot be sent (empty when it can); the spec layer reports the same rules with positions."""
    found: list[str] = []
    if shape.mode not in ("http", "tcp"):
        found.append(f"mode: 'http' or 'tcp', got {shape.mode!r}")
    if shape.method not in METHODS:
        found.append(f"method: one of {', '.join(METHODS)}, got {shape.method!r}")
    if shape.body and shape.method in METHODS_WITHOUT_BODY:
        found.append(f"body: {shape.method} requests carry no body")
    if shape.mode == "tcp" and shape.https:
        found.append("https: not with mode tcp")
    if len(shape.body) > MAX_BODY_BYTES or len(shape.send) > MAX_BODY_BYTES:
        found.append(f"body/send: at most {MAX_BODY_BYTES} bytes")
    if len(shape.expect) > MAX_EXPECT_BYTES:
        found.append(f"expect: at most {MAX_EXPECT_BYTES} bytes")
    for path, weight in shape.paths:
        if not path.startswith("/") or not path.isprintable() or " " in path:
            found.append(f"paths: {path!r} must start with '/' and hold no spaces or control characters")
        if weight < 1:
            found.append(f"paths: weight of {path!r} must be at least 1")
    if sum(w for _, w in shape.paths) > MAX_CYCLE:
        found.append(f"paths: weights add up to more than {MAX_CYCLE}")
    found += [f"headers: {p}" for name, value in shape.headers for p in header_problems(name, value)]
    if any(not 100 <= lo <= hi <= 599 for lo, hi in shape.success):
        found.append(f"success: ranges must lie within 100-599, got {shape.success}")
    return found


def header_problems(name: str, value: str) -> list[str]:
    """A header that would break the request's framing or smuggle another header."""
    found = []
    if not name or not set(name) <= _TOKEN_CHARS:
        found.append(f"{name!r} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)")
    elif name.lower() in RESERVED_HEADERS:
        found.append(f"{name} is set by chaoskit (from the body and load.connection)")
    if "\r" in value or "\n" in value or "\0" in value:
        found.append(f"the value of {name} holds a line break or NUL")
    return found


def http_request(shape: RequestShape, host: str, port: int, path: str, *, keepalive: bool) -> bytes:
    """The complete request bytes for one path (head and body): built once per path, sent many times."""
    lines = [f"{shape.method} {path} HTTP/1.1", f"Host: {shape.host_header(host, port)}"]
    lines += [f"{name}: {value}" for name, value in shape.headers if name.lower() != "host"]
    if not any(name.lower() == "user-agent" for name, _ in shape.headers):
        lines.append("User-Agent: chaoskit-load")
    if shape.body or shape.method not in METHODS_WITHOUT_BODY:
        lines.append(f"Content-Length: {len(shape.body)}")
    lines.append(f"Connection: {'keep-alive' if keepalive else 'close'}")
    # Header values are checked to be free of CR/LF; latin-1 is HTTP's historical header charset.
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace") + shape.body


def make_ssl_context(shape: RequestShape, ssl_module: Any) -> Any:
    """The client TLS context for ``shape`` from ``ssl_module`` (stdlib ``ssl``, or ``gevent.ssl`` in the agent)."""
    ctx = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_CLIENT)
    if shape.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl_module.CERT_NONE
    elif shape.ca_pem:
        ctx.load_verify_locations(cadata=shape.ca_pem)
    else:
        ctx.load_default_certs()
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx

