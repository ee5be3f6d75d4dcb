"""Process helpers shared by the supervisor and `down`: spawn with hygiene, find, signal, reap by PID."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


def set_subreaper() -> None:
    """Orphaned descendants (containerd shims, container processes) re-parent to us, so we can stop them."""
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: a component never outlives its supervisor.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None, die_with_parent: bool = True) -> subprocess.Popen[bytes]:
    """Start one child in its own process group, output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
            # The supervisor and `up` are single-threaded, so preexec_fn is safe here.
            preexec_fn=_die_with_parent if die_with_parent else None,  # noqa: PLW1509
        )


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children_of(ppid: int) -> list[int]:
    """Live direct children of `ppid` (read from /proc, since orphans adopted by a subreaper qualify)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def reap() -> None:
    """Collect every exited child without blocking (we may be a subreaper with adopted orphans)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop(pid: int, *, grace_s: float, own_child: bool = False) -> None:
    """SIGTERM, wait up to `grace_s`, then SIGKILL; bounded in time."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive(pid) and time.monotonic() < deadline:
        if own_child:
            reap()
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while alive(pid) and time.monotonic() < deadline:
            if own_child:
                reap()
            time.sleep(0.05)
