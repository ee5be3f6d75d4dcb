"""Child processes chaoskit starts: own process group, parent-death signal, stopped only by their PID."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Mapping, Sequence

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child between fork and exec: new session, SIGKILL when the parent dies."""
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


async def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None = None,
    pass_fds: Sequence[int] = (),
    stdin: int | None = asyncio.subprocess.DEVNULL,
    stdout: int | None = asyncio.subprocess.DEVNULL,
    stderr: int | None = None,
) -> asyncio.subprocess.Process:
    """Start a child in its own process group that is SIGKILLed if this process dies."""
    parent = os.getpid()
    return await asyncio.create_subprocess_exec(
        *argv, env=dict(env), cwd=cwd, pass_fds=tuple(pass_fds), stdin=stdin, stdout=stdout,
        stderr=stderr, preexec_fn=lambda: _die_with_parent(parent),
    )


def signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by ``pid`` (a child we started with its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def terminate(process: asyncio.subprocess.Process, *, grace_s: float) -> int:
    """SIGTERM the child's group, SIGKILL it after ``grace_s``; returns the exit code."""
    if process.returncode is not None:
        return process.returncode
    signal_group(process.pid, signal.SIGTERM)
    try:
        return await asyncio.wait_for(process.wait(), timeout=grace_s)
    except TimeoutError:
        signal_group(process.pid, signal.SIGKILL)
        return await process.wait()


async def kill(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        signal_group(process.pid, signal.SIGKILL)
    return await process.wait()
