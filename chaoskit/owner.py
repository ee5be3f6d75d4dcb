"""Who owns a directory chaoskit left on disk (a run directory, the embedded cluster's state): a process
identity that survives PID reuse, so `chaoskit cleanup` removes only what belongs to dead processes.

A PID alone is not enough: after a crash the number is reused by an unrelated process sooner or later. The
start time of the process (``/proc/<pid>/stat`` field 22, clock ticks since boot) tells the two apart. A
leaf: imports nothing from chaoskit.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Owner:
    """A process on a host: its PID and start time (0 when unknown, e.g. on a system without /proc)."""

    pid: int
    start: int
    host: str

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        return cls(pid, start_ticks(pid) or 0, socket.gethostname())

    def alive(self) -> bool | None:
        """True while the process runs; False once it is gone; None when this host cannot tell (another host)."""
        if self.host != socket.gethostname():
            return None
        if self.start == 0:  # no /proc where it was recorded: the PID is all there is
            return _pid_exists(self.pid)
        return start_ticks(self.pid) == self.start  # a different start time: the PID was reused

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Owner | None:
        """The owner recorded in ``text``; None when it is not one (damaged or from another tool)."""
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), int(data["start"]), str(data["host"]))
        except (ValueError, TypeError, KeyError):
            return None


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot); None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name (field 2) may hold spaces and parentheses
    try:
        return int(fields[19]) if fields[0] != "Z" else None  # a zombie has exited: it owns nothing
    except (IndexError, ValueError):
        return None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
