"""Test helpers: bounded HTTP clients on raw sockets (no retries), child-process bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Hit:
    start_ns: int
    ok: bool
    error: str
    body: bytes


async def http_get(host: str, port: int, *, path: str = "/", timeout_s: float = 2.0, method: str = "GET") -> Hit:
    """One request on a new connection with `Connection: close`; exactly one attempt."""
    start = time.time_ns()
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n".encode())
            data = await reader.read()
        status = data.split(b" ", 2)[1] if data.startswith(b"HTTP/1.") else b""
        ok = status.startswith(b"2")
        return Hit(start, ok, "" if ok else f"status {status!r}", data.split(b"\r\n\r\n", 1)[-1])
    except (OSError, TimeoutError) as exc:
        return Hit(start, False, type(exc).__name__, b"")
    finally:
        if writer is not None:
            writer.close()


async def steady_load(host: str, port: int, *, rate: float, duration_s: float) -> list[Hit]:
    """Requests at a constant arrival rate for a bounded time (each on its own connection)."""
    count = int(rate * duration_s)
    t0 = time.monotonic()
    tasks = []
    for i in range(count):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(http_get(host, port, timeout_s=2.0)))
    return list(await asyncio.gather(*tasks))


@contextlib.contextmanager
def subreaper() -> Iterator[None]:
    """While inside, orphaned descendants are re-parented to this process, so leftovers can be found and counted."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        reap_zombies()
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def recv_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (Content-Length framed) from a blocking socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionAbortedError("closed before a response")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionAbortedError("closed inside a body")
        body += chunk
    return int(lines[0].split()[1]), headers, body


def is_local_address(host: str) -> bool:
    """Whether ``host`` is an address of this machine (binding to it succeeds only then)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, 0))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    """Running (a zombie is dead: it may wait for a reaper if another test made this process a subreaper)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def interrupt_when(command: list[str], ready: Callable[[str], bool], *, after_s: float, cwd: Path | None = None,
                   timeout_s: float = 60.0) -> str:
    """Run ``command`` (a chaoskit run), SIGINT it ``after_s`` after the first output line ``ready`` accepts
    (the non-TTY view prints one line per phase), and assert it exits 130. Returns the output after that line."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd)
    try:
        assert process.stdout is not None
        seen = any(ready(line) for line in process.stdout)
        assert seen, "the run ended before the moment to interrupt it"
        time.sleep(after_s)
        process.send_signal(signal.SIGINT)
        rest = process.stdout.read()
        assert process.wait(timeout=timeout_s) == 130, rest
        return rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def in_chaos(line: str) -> bool:
    """The non-TTY view's line for the chaos phase."""
    return line.strip().endswith(": chaos")
