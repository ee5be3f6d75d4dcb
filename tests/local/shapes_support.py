"""Helpers for the shaped-load truth tests: the built-in target as a real process (its own request counts
read from its exit line), certificates made with the openssl command, a server that keeps the raw requests."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

STATS_PREFIX = "chaoskit-target stats "


def _child_setup() -> None:
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


@dataclass
class Standin:
    """A running ``python -m chaoskit.standin``; ``stats`` is its own count, filled in when it has exited."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    stats: dict[str, Any] = field(default_factory=dict)
    probes: int = 0
    """Connections made to see it accepting (a tcp-echo target counts them as connections)."""

    def requests(self, key: str) -> int:
        return int(self.stats["requests"].get(key, 0))


@contextlib.contextmanager
def standin(host: str, port: int, **env: str) -> Iterator[Standin]:
    """Start the target on ``host:port``, wait until it accepts; on exit SIGTERM it and read its stats line."""
    full_env = {**os.environ, "CHAOSKIT_LISTEN": f"{host}:{port}", "POD_NAME": "shape-1", "POD_IP": host, **env}
    process = subprocess.Popen([sys.executable, "-m", "chaoskit.standin"], env=full_env,
                               stderr=subprocess.PIPE, preexec_fn=_child_setup)  # noqa: PLW1509
    target = Standin(host, port, process)
    try:
        _wait_accepting(target)
        yield target
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=15)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.startswith(STATS_PREFIX)]
        if lines:
            target.stats = json.loads(lines[-1][len(STATS_PREFIX):])


def _wait_accepting(target: Standin) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((target.host, target.port)) == 0:
                target.probes += 1
                return
        if target.process.poll() is not None:
            raise AssertionError("the target exited at start")
        time.sleep(0.01)
    raise AssertionError("the target never accepted")


@dataclass(frozen=True)
class Certs:
    ca: Path
    """The CA that signed ``cert``."""
    other_ca: Path
    """A CA that signed nothing here (verification against it must fail)."""
    cert: Path
    """Server certificate for DNS name ``shop.example``."""
    key: Path


def make_certs(directory: Path) -> Certs:
    """A CA, a server certificate it signs (``shop.example``) and an unrelated CA; skips without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed: cannot make test certificates")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60, cwd=directory)

    for name in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=chaoskit test {name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=shop.example", "-keyout", "server.key",
        "-out", "server.csr")
    (directory / "ext.cnf").write_text("subjectAltName=DNS:shop.example\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")
    return Certs(directory / "ca.pem", directory / "other-ca.pem", directory / "server.pem", directory / "server.key")


class RecordingServer:
    """A threaded loopback server that answers 200 and keeps every raw request (head and body) it got."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.requests: list[bytes] = []
        self._sock = socket.create_server((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        buf = b""
        with conn, contextlib.suppress(OSError):
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head = buf.split(b"\r\n\r\n", 1)[0]
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(buf) < len(head) + 4 + length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buf += chunk
            with self._lock:
                self.requests.append(buf)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
