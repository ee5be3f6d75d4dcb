"""The target service's settings, read once from the environment the local pod runtime gives it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PROTOCOLS = ("http", "tcp-echo")


class ConfigError(Exception):
    """An environment variable has a value the target cannot use."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetConfig:
    pod: str = ""
    """POD_NAME, answered by ``GET /``."""
    ip: str = ""
    """POD_IP, answered by ``GET /``."""
    node: str = ""
    """NODE_NAME, answered by ``GET /``."""
    listen: tuple[tuple[str, int], ...] = ()
    """CHAOSKIT_LISTEN: ``host:port`` pairs to bind (comma-separated; ``[v6]:port`` for IPv6)."""
    startup_delay_s: float = 0.0
    """CHAOSKIT_STARTUP_DELAY_S: seconds to wait before binding (a slow-starting app). Default 0."""
    started_fd: int | None = None
    """CHAOSKIT_STARTED_FD: fd that gets one byte ``s`` once the process has started (after imports)."""
    shutdown_delay_s: float = 0.0
    """CHAOSKIT_SHUTDOWN_DELAY_S: seconds to keep serving after SIGTERM. Default 0."""
    handoff_path: str | None = None
    """CHAOSKIT_HANDOFF: unix socket on which the local Service proxy hands over accepted client connections."""
    protocol: str = "http"
    """CHAOSKIT_PROTOCOL: ``http`` (default) or ``tcp-echo`` (every port echoes bytes: a non-HTTP Service)."""
    tls_cert: str | None = None
    """CHAOSKIT_TLS_CERT: PEM certificate (chain) file; with CHAOSKIT_TLS_KEY every port serves TLS."""
    tls_key: str | None = None
    """CHAOSKIT_TLS_KEY: PEM private key file of CHAOSKIT_TLS_CERT."""
    auth_token: str = "chaoskit"  # noqa: S105 -- a stand-in's fixed test token, not a secret
    """CHAOSKIT_AUTH_TOKEN: ``/auth`` answers 200 only to ``Authorization: Bearer <token>``."""


def parse_address(text: str) -> tuple[str, int]:
    """``127.61.0.5:10080`` or ``[::1]:10080`` -> (host, port)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ConfigError(f"CHAOSKIT_LISTEN: {text!r} is not host:port")
    return host.strip("[]"), int(port_text)


def _seconds(env: Mapping[str, str], name: str) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{name}: {raw!r} must be a finite number >= 0")
    return value


def from_env(env: Mapping[str, str]) -> TargetConfig:
    """Parse every setting at once; raises ConfigError naming the variable at fault."""
    listen_raw = env.get("CHAOSKIT_LISTEN", "").strip()
    if not listen_raw:
        raise ConfigError("CHAOSKIT_LISTEN is not set: give host:port[,host:port...] to bind")
    protocol = env.get("CHAOSKIT_PROTOCOL", "").strip() or "http"
    if protocol not in PROTOCOLS:
        raise ConfigError(f"CHAOSKIT_PROTOCOL: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    cert, key = env.get("CHAOSKIT_TLS_CERT") or None, env.get("CHAOSKIT_TLS_KEY") or None
    if (cert is None) != (key is None):
        raise ConfigError("CHAOSKIT_TLS_CERT and CHAOSKIT_TLS_KEY go together: set both or neither")
    fd_raw = env.get("CHAOSKIT_STARTED_FD", "").strip()
    if fd_raw and not fd_raw.isdigit():
        raise ConfigError(f"CHAOSKIT_STARTED_FD: {fd_raw!r} is not a file descriptor number")
    return TargetConfig(
        pod=env.get("POD_NAME", ""), ip=env.get("POD_IP", ""), node=env.get("NODE_NAME", ""),
        listen=tuple(parse_address(item) for item in listen_raw.split(",") if item.strip()),
        startup_delay_s=_seconds(env, "CHAOSKIT_STARTUP_DELAY_S"),
        started_fd=int(fd_raw) if fd_raw else None,
        shutdown_delay_s=_seconds(env, "CHAOSKIT_SHUTDOWN_DELAY_S"),
        handoff_path=env.get("CHAOSKIT_HANDOFF") or None,
        protocol=protocol, tls_cert=cert, tls_key=key,
        auth_token=env.get("CHAOSKIT_AUTH_TOKEN") or "chaoskit",
    )
