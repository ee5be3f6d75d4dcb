"""One agent process on this host, seen from chaoskit: spawned with its plan, read through its pipes.

Locust is never imported here (it monkey-patches the whole process); the child (``locustfile.py``, in a
role: single, master or worker) speaks over a pipe of JSON control lines (``ready``, ``done``, ...) and,
unless it is a master, a pipe of binary request records. Every child gets its own session and dies with
chaoskit (it sets its own parent-death signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Final

from chaoskit.load import roles
from chaoskit.load.plan import LoadPlan
from chaoskit.load.report import AgentError
from chaoskit.load.stream import until_changed

LOCUSTFILE: Final = Path(__file__).with_name("locustfile.py")
_F_SETPIPE_SZ: Final = 1031
_PIPE_BYTES: Final = 1 << 20
_READ_BYTES: Final = 1 << 20
_TAIL_BYTES: Final = 4000


def _plan_fd(plan: LoadPlan) -> int:
    """The plan in an anonymous in-memory file, read by the child from the start: an environment variable
    is capped at 128 KiB, and bodies and CA bundles travel in the plan."""
    fd = os.memfd_create("chaoskit-load-plan")
    data = plan.to_json().encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class AgentProcess:
    """A spawned ``locustfile.py``: its control messages (the last of each event), record bytes, exit."""

    def __init__(self, plan: LoadPlan, *, role: str = "single", env: Mapping[str, str] | None = None,
                 records: bool = True, python: str = sys.executable, changed: asyncio.Event | None = None,
                 name: str = "load agent") -> None:
        self.plan = plan
        self.role = role
        self.name = name
        self.records = bytearray()
        """Record bytes read so far and not yet decoded (the owner decodes whole records out of it)."""
        self.messages: dict[str, dict[str, Any]] = {}
        self.changed = changed or asyncio.Event()
        """Set on every message, record batch or exit: what ``until`` waits for."""
        self._env = dict(env or {})
        self._wants_records = records
        self._python = python
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._fds: dict[str, int] = {}
        self._ctl = bytearray()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has exited (negative: killed by that signal)."""
        return self._proc.returncode if self._proc is not None else None

    @property
    def exited(self) -> bool:
        return "pid" not in self._fds and self._proc is not None

    @property
    def drained(self) -> bool:
        """Exited, and both pipes read to their end."""
        return self.exited and "records" not in self._fds and "control" not in self._fds

    def message(self, event: str) -> dict[str, Any] | None:
        return self.messages.get(event)

    async def until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        return await until_changed(self.changed, condition, timeout_s)

    def spawn(self) -> None:
        """Start the child (own session, dies with us) and watch its pipes and exit on the running loop."""
        if self._proc is not None:
            raise AgentError(f"this {self.name} was already started; use a new one per run")
        pipes = {"control": os.pipe(), **({"records": os.pipe()} if self._wants_records else {})}
        if "records" in pipes:
            with contextlib.suppress(OSError):  # a bigger pipe only adds slack; the default works
                fcntl.fcntl(pipes["records"][1], _F_SETPIPE_SZ, _PIPE_BYTES)
        plan_fd = _plan_fd(self.plan)
        self._fds = {name: r for name, (r, _) in pipes.items()}
        # A file, not a pipe: agent output can never block it. Closed in close().
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        # The child sets its own parent-death signal (no preexec_fn: unsafe in threaded parents)
        # and exits if this pid is no longer its parent by then.
        env = {**os.environ, **self._env, roles.PLAN_FD: str(plan_fd), roles.PARENT_PID: str(os.getpid()),
               roles.ROLE: self.role, roles.CONTROL_FD: str(pipes["control"][1])}
        if "records" in pipes:
            env[roles.RECORDS_FD] = str(pipes["records"][1])
        writers = [w for _, w in pipes.values()]
        try:
            # fork+exec returns at once; not asyncio's subprocess API because its child watcher would reap
            # the child, while we watch a pidfd on our own loop.
            self._proc = subprocess.Popen(
                [self._python, str(LOCUSTFILE)], pass_fds=(*writers, plan_fd), env=env,
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            self.close()
            raise AgentError(f"cannot start the {self.name} with {self._python}: {exc}") from exc
        finally:
            for fd in (*writers, plan_fd):
                os.close(fd)
        self._watch()

    def _watch(self) -> None:
        assert self._proc is not None
        loop = asyncio.get_running_loop()
        self._fds["pid"] = os.pidfd_open(self._proc.pid)
        callbacks = {"records": self._on_records, "control": self._on_control, "pid": self._on_exit}
        for name, fd in self._fds.items():
            os.set_blocking(fd, False)
            loop.add_reader(fd, callbacks[name])

    def _on_records(self) -> None:
        self._drain("records", self.records)
        self.changed.set()

    def _on_control(self) -> None:
        self._drain("control", self._ctl)
        while (end := self._ctl.find(b"\n")) >= 0:
            line = bytes(self._ctl[:end])
            del self._ctl[:end + 1]
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if isinstance(message, dict) and isinstance(message.get("event"), str):
                    self.messages[message["event"]] = message
        self.changed.set()

    def _drain(self, name: str, into: bytearray) -> None:
        fd = self._fds[name]
        while True:
            try:
                chunk = os.read(fd, _READ_BYTES)
            except BlockingIOError:
                return
            if not chunk:
                self._unwatch(name)
                return
            into += chunk

    def _on_exit(self) -> None:
        assert self._proc is not None
        self._proc.poll()
        self._unwatch("pid")
        self.changed.set()

    def _unwatch(self, name: str) -> None:
        fd = self._fds.pop(name, None)
        if fd is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed: nothing to remove
                asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    def tail(self) -> str:
        """The last few KB of the process's output (stdout and stderr)."""
        if self._log is None:
            return ""
        self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, self._log.tell() - _TAIL_BYTES))
        return self._log.read().decode(errors="replace")

    async def stop(self, grace_s: float) -> None:
        """SIGTERM the process group, SIGKILL after ``grace_s``; idempotent."""
        if self._proc is None or self.exited:
            return
        self.signal(signal.SIGTERM)
        if not await self.until(lambda: self.exited, grace_s):
            self.signal(signal.SIGKILL)
            if not await self.until(lambda: self.exited, 5.0):
                self._proc.wait(5.0)  # SIGKILL cannot be ignored; reap synchronously

    def signal(self, sig: signal.Signals) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)

    def close(self) -> None:
        """Stop watching and close every fd and the output file (after ``stop``)."""
        for name in list(self._fds):
            self._unwatch(name)
        if self._log is not None:
            self._log.close()
            self._log = None
