"""The ``request:`` of a loaded Service: what each load request sends and which answers count as success.

Validated here with located errors (a body on a GET, a header value with a line break, a missing CA file);
``Request.shape`` turns a valid one into the stdlib ``RequestShape`` the load agent and the probe use.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from chaoskit.load.shape import (
    MAX_BODY_BYTES,
    MAX_CA_BYTES,
    MAX_CYCLE,
    MAX_EXPECT_BYTES,
    METHODS_WITHOUT_BODY,
    RequestShape,
    header_problems,
)

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PATH_PATTERN: Final = r"^/[\x21-\x7e]*$"
"""A request target: starts with '/', printable ASCII, no spaces (percent-encode anything else)."""
_STATUS = re.compile(r"^\s*(?:([1-5])xx|([1-5]\d\d)(?:\s*-\s*([1-5]\d\d))?)\s*$")
_HOSTNAME: Final = r"^[A-Za-z0-9]([-A-Za-z0-9.]{0,251}[A-Za-z0-9])?$"
_HTTP_ONLY: Final = ("method", "path", "paths", "headers", "body", "body_file", "success", "https", "ca_file",
                     "insecure", "server_name")
_TCP_ONLY: Final = ("send", "send_base64", "expect", "expect_base64")


def _error(loc: tuple[str, ...], value: Any, kind: str, message: str, hint: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message, {"hint": hint}), loc=loc, input=value)


def _resolve_file(path: Path, info: ValidationInfo) -> Path:
    # Relative to the experiment file, like manifests; stored absolute so a re-validation finds it again.
    context: dict[str, Any] = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir") or Path.cwd()
    resolved = (Path(base) / path.expanduser()).resolve()
    if not resolved.is_file():
        raise PydanticCustomError("file_missing", "file not found: {path}", {
            "path": str(resolved), "hint": f"paths are relative to the experiment file ({base})"})
    limit = MAX_CA_BYTES if info.field_name == "ca_file" else MAX_BODY_BYTES
    if resolved.stat().st_size > limit:
        raise PydanticCustomError("file_too_large", "{path} is larger than {limit} bytes", {
            "path": str(resolved), "limit": limit,
            "hint": "it travels in the load plan to every agent: keep it small"})
    return resolved


ExperimentFile = Annotated[Path, AfterValidator(_resolve_file)]


def status_range(item: int | str) -> tuple[int, int]:
    """``200``, ``"304"``, ``"200-299"`` or ``"2xx"`` -> an inclusive range."""
    match = _STATUS.match(str(item))
    if match is None:
        raise ValueError(item)
    klass, low, high = match.groups()
    if klass:
        return int(klass) * 100, int(klass) * 100 + 99
    lo, hi = int(low), int(high or low)
    if hi < lo:
        raise ValueError(item)
    return lo, hi


def _check_status(item: int | str) -> int | str:
    try:
        status_range(item)
    except ValueError:
        raise PydanticCustomError("status_code", "not a status code or range: {item}", {
            "item": str(item), "hint": "a code (304), a range (200-299) or a class (2xx), within 100-599"}) from None
    return item


StatusItem = Annotated[int | str, AfterValidator(_check_status)]


def _decode_base64(text: str | None) -> bytes:
    return base64.b64decode(text, validate=True) if text else b""


class WeightedPath(BaseModel):
    """One of several paths; requests cycle through them in proportion to their weights."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(pattern=PATH_PATTERN, description="Request path, e.g. /api/items?limit=10.")
    weight: int = Field(default=1, ge=1, le=1000, description="Relative share of requests (default 1).")


class Request(BaseModel):
    """What every load request to a Service is. Default: ``GET load.path``, 2xx and 3xx count as success."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)

    mode: Literal["http", "tcp"] = Field(default="http", description="http, or tcp for non-HTTP Services.")
    method: Method = Field(default="GET", description="HTTP method.")
    path: str | None = Field(default=None, pattern=PATH_PATTERN, description="Path (default: load.path).")
    paths: list[WeightedPath] | None = Field(
        default=None, min_length=1, max_length=64,
        description="Weighted paths, interleaved in a fixed order (weights 3 and 1: a, a, b, a, ...).")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers; Host replaces the address.")
    body: str | None = Field(default=None, description="Request body (UTF-8 text).")
    body_file: ExperimentFile | None = Field(default=None, description="Body from a file (relative path).")
    success: list[StatusItem] = Field(
        default_factory=lambda: list[int | str](["200-399"]), min_length=1, max_length=32,
        description="Statuses that count as success: codes, ranges and classes, e.g. [200-299, 304].")
    https: bool = Field(default=False, description="Use TLS.")
    ca_file: ExperimentFile | None = Field(default=None, description="CA bundle (PEM) to verify the server.")
    insecure: bool = Field(default=False, description="TLS without verifying the certificate.")
    server_name: str | None = Field(
        default=None, pattern=_HOSTNAME, description="TLS server name (SNI, certificate check).")
    send: str | None = Field(default=None, description="tcp: text sent once connected (UTF-8; YAML escapes).")
    send_base64: str | None = Field(default=None, description="tcp: bytes sent once connected, base64.")
    expect: str | None = Field(default=None, description="tcp: the reply must start with this text.")
    expect_base64: str | None = Field(default=None, description="tcp: the reply must start with these bytes.")

    @field_validator("headers")
    @classmethod
    def _safe_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        found = [_error((name,), value, "header", p, "a header is one line: remove CR/LF; Content-"
                        "Length and Connection come from the body and load.connection")
                 for name, value in headers.items() for p in header_problems(name, value)]
        if found:
            raise ValidationError.from_exception_data("headers", found)
        return headers

    @field_validator("send_base64", "expect_base64")
    @classmethod
    def _valid_base64(cls, text: str | None) -> str | None:
        try:
            _decode_base64(text)
        except (binascii.Error, ValueError):
            raise PydanticCustomError("base64", "not valid base64", {
                "hint": "e.g. `printf 'PING\\r\\n' | base64` gives UElORw0K"}) from None
        return text

    @model_validator(mode="after")
    def _consistent(self) -> Request:
        found = _mode_problems(self) + (_http_problems(self) if self.mode == "http" else []) + _size_problems(self)
        if found:
            raise ValidationError.from_exception_data("request", found)
        return self

    def shape(self, default_path: str) -> RequestShape:
        """The wire form for the load agent (reads ``body_file`` and ``ca_file``)."""
        paths = [(p.path, p.weight) for p in self.paths] if self.paths else [(self.path or default_path, 1)]
        return RequestShape(
            mode=self.mode, method=self.method, paths=tuple(paths),
            headers=tuple(self.headers.items()), body=_body(self),
            success=tuple(status_range(s) for s in self.success), https=self.https,
            ca_pem=self.ca_file.read_text(encoding="ascii") if self.ca_file else "",
            insecure=self.insecure, server_name=self.server_name or "",
            send=_decode_base64(self.send_base64) or (self.send or "").encode(),
            expect=_decode_base64(self.expect_base64) or (self.expect or "").encode())


def _body(request: Request) -> bytes:
    if request.body_file is not None:
        return request.body_file.read_bytes()
    return (request.body or "").encode()


def _is_set(r: Request, name: str) -> bool:
    # By value, not by `model_fields_set`: a dumped and re-validated request sets every field.
    return bool(getattr(r, name) != type(r).model_fields[name].get_default(call_default_factory=True))


def _mode_problems(r: Request) -> list[InitErrorDetails]:
    found = []
    if r.mode == "tcp":
        if r.https:
            found.append(_error(("https",), True, "tcp_https", "https and mode tcp exclude each other",
                                "tcp mode checks a plain TCP exchange; for TLS use mode http with https: true"))
        found += [_error((name,), getattr(r, name), "http_only", f"{name} applies to mode http only",
                         "mode tcp takes send/send_base64 and expect/expect_base64")
                  for name in _HTTP_ONLY if _is_set(r, name) and name != "https"]
    else:
        found += [_error((name,), getattr(r, name), "tcp_only", f"{name} applies to mode tcp only",
                         "set `mode: tcp` for a non-HTTP Service")
                  for name in _TCP_ONLY if _is_set(r, name)]
    for a, b in (("send", "send_base64"), ("expect", "expect_base64"), ("path", "paths"), ("body", "body_file")):
        if getattr(r, a) is not None and getattr(r, b) is not None:
            found.append(_error((b,), getattr(r, b), "exclusive", f"{a} and {b} are both set", "choose one"))
    return found


def _http_problems(r: Request) -> list[InitErrorDetails]:
    found = []
    has_body = r.body is not None or r.body_file is not None
    if has_body and r.method in METHODS_WITHOUT_BODY:
        where = "body" if r.body is not None else "body_file"
        found.append(_error((where,), getattr(r, where), "body_without_method",
                            f"a {r.method} request carries no body",
                            "set `method: POST` (or PUT, PATCH, DELETE, OPTIONS), or remove the body"))
    for name in ("ca_file", "insecure", "server_name"):
        if getattr(r, name) and not r.https:
            found.append(_error((name,), getattr(r, name), "tls_only", f"{name} needs `https: true`",
                                "add `https: true`, or remove it"))
    if r.ca_file is not None and r.insecure:
        found.append(_error(("insecure",), True, "exclusive", "insecure and ca_file are both set",
                            "verify with ca_file, or skip verification with insecure: true, not both"))
    if r.ca_file is not None and not _loads_as_ca(r.ca_file):
        found.append(_error(("ca_file",), str(r.ca_file), "ca_file", f"no PEM certificate in {r.ca_file}",
                            "give the CA certificate(s) in PEM (-----BEGIN CERTIFICATE-----)"))
    return found


def _size_problems(r: Request) -> list[InitErrorDetails]:
    found = []
    sizes = {"body": len((r.body or "").encode()), "send": len((r.send or "").encode()),
             "send_base64": len(_decode_base64(r.send_base64)),
             "expect": len((r.expect or "").encode()), "expect_base64": len(_decode_base64(r.expect_base64))}
    for name, size in sizes.items():
        limit = MAX_EXPECT_BYTES if name.startswith("expect") else MAX_BODY_BYTES
        if size > limit:
            found.append(_error((name,), f"{size} bytes", "too_large", f"{name} is {size} bytes, more than "
                                f"{limit}", "it travels in the load plan to every agent: keep it small"))
    if r.paths and sum(p.weight for p in r.paths) > MAX_CYCLE:
        found.append(_error(("paths",), len(r.paths), "too_large", f"path weights add up to more than {MAX_CYCLE}",
                            "use smaller weights with the same ratios"))
    return found


def _loads_as_ca(path: Path) -> bool:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=path.read_text(encoding="ascii"))
    except (ssl.SSLError, ValueError, OSError):
        return False
    return True
