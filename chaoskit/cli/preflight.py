"""Every flag of `chaoskit run` checked before anything starts: a bad one is one line, a hint and exit 2,
with no cluster, temp directory or run directory made (README "Exit codes")."""

from __future__ import annotations

import ipaddress
import math
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

from chaoskit.cli import exits
from chaoskit.engine.rundir import RunDirError, check_out_dir
from chaoskit.experiment import parse_duration
from chaoskit.experiment.models import MAX_RATE, MIN_RATE
from chaoskit.metrics.exporter import DEFAULT_HOST, pushgateway_url

MAX_SEED = 2**63 - 1
"""Seeds are saved in summary.json and shown in the report; an int64 keeps every reader of them happy."""


def duration(value: str | None, flag: str) -> float | None:
    """``value`` in seconds (None when the flag was not given)."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:  # pydantic's custom errors are ValueErrors; their context holds the hint
        context = getattr(exc, "context", None) or {}
        exits.fail(f"{flag} {value!r}: {exc}", hint=str(context.get("hint") or "use a duration like 5s or 1m"))


def rate(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and MIN_RATE <= value <= MAX_RATE):
        exits.fail(f"--rate {value:g}: must be {MIN_RATE:g} to {MAX_RATE:,.0f} requests/s per address",
                   hint="one load agent core offers ~8,000 req/s keep-alive (~3,000 new-connection); "
                   "more is a typo, not a load test")
    return value


def workers(value: str | None) -> int | str | None:
    """``--workers``: a count of at least 1, or auto (the experiment model checks the count against the rate)."""
    if value is None or value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        why = "at least 1 (or auto)" if value.isdigit() else "not a count of worker processes, nor auto"
        exits.fail(f"--workers {value}: {why}", hint="e.g. --workers 2, or --workers auto to size it from the rate")
    return int(value)


def out_dir(path: Path) -> Path:
    try:
        return check_out_dir(path)
    except RunDirError as exc:
        exits.fail(f"--out {exc}", hint=exc.hint)


def pushgateway(value: str | None) -> str | None:
    """The Pushgateway's base URL, once it is one and its host name resolves. A gateway that is down is found
    when the run pushes (exit 3, the run directory complete): it may well be up by then."""
    if value is None:
        return None
    if "://" not in value and not re.fullmatch(r"\[?[^/\s]+\]?:\d+", value):
        exits.fail(f"--pushgateway {value!r}: not a URL", hint="give the Pushgateway as http://HOST:PORT")
    try:
        url = pushgateway_url(value)
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        exits.fail(f"--pushgateway {value!r}: {exc}", hint="give the Pushgateway as http://HOST:PORT")
    if not _host_syntax_ok(host):
        exits.fail(f"--pushgateway {value!r}: {host!r} is not a host name or address",
                   hint="give the Pushgateway as http://HOST:PORT")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        exits.fail(f"--pushgateway {value}: host {host} does not resolve ({exc})",
                   hint="check the name (docker compose up -d serves one at http://127.0.0.1:9091)")
    return url


def metrics_host(host: str, port: int | None) -> str:
    if port is None and host != DEFAULT_HOST:
        exits.fail(f"--metrics-host {host}: there is no metrics server without --metrics-port",
                   hint="add --metrics-port PORT (0: any free port), or leave --metrics-host out")
    if not _host_syntax_ok(host):
        exits.fail(f"--metrics-host {host!r}: not a host name or address of this machine",
                   hint="e.g. 127.0.0.1, 0.0.0.0 or the docker0 address")
    return host


def _host_syntax_ok(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        labels = host.rstrip(".").split(".")
        return 0 < len(host) <= 253 and all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label)
                                            for label in labels)
