"""Readiness probes the supervisor uses between starting one component and the next."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def probe(check: Mapping[str, Any]) -> bool:
    """One attempt of a check: {"kind": "tcp"|"unix"|"http"|"https"|"file", ...}; False while not ready."""
    kind = check["kind"]
    try:
        if kind == "tcp":
            with socket.create_connection((check["host"], check["port"]), timeout=1.0):
                return True
        if kind == "unix":
            with contextlib.closing(socket.socket(socket.AF_UNIX)) as sock:
                sock.settimeout(1.0)
                sock.connect(check["path"])
                return True
        if kind in ("http", "https"):
            return _http_ok(check)
        if kind == "file":  # the component writes it once it is ready
            return Path(check["path"]).exists()
    except OSError:
        return False
    raise ValueError(f"unknown check kind {kind!r}")


def _http_ok(check: Mapping[str, Any]) -> bool:
    context = None
    if check["kind"] == "https":
        # Without a CA: the component's self-signed serving cert (controller-manager, scheduler);
        # this probe only asks "is it serving yet".
        context = (ssl.create_default_context(cafile=check["ca"]) if "ca" in check
                   else ssl._create_unverified_context())  # noqa: S323
        if "cert" in check:
            context.load_cert_chain(check["cert"], check["key"])
    with urllib.request.urlopen(check["url"], timeout=2.0, context=context) as resp:  # noqa: S310
        return bool(resp.status == 200)


def wait_ready(check: Mapping[str, Any], *, timeout_s: float, is_alive: Any = None) -> bool:
    """Poll `probe` every 0.2 s until ready, the deadline, or `is_alive()` turning False."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe(check):
            return True
        if is_alive is not None and not is_alive():
            return False
        time.sleep(0.2)
    return False
