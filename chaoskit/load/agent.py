"""The load agent seen from chaoskit: runs the Locust file in its own process and streams its records.

Locust is never imported here (it monkey-patches the whole process); the agent speaks to its child over
two pipes: binary request records and JSON control lines (ready, done with a summary).
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
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import pandas as pd

from chaoskit.load.plan import LoadPlan, LoadTarget
from chaoskit.load.report import AgentError, AgentReport, build_report
from chaoskit.load.stream import RecordStream, until_changed

__all__ = ["AgentError", "AgentReport", "LoadAgent", "LoadPlan", "LoadTarget"]

LOCUSTFILE: Final = Path(__file__).with_name("locustfile.py")
_PLAN_FD_ENV, _RECORDS_FD_ENV, _CONTROL_FD_ENV, _PARENT_ENV = (
    "CHAOSKIT_LOAD_PLAN_FD", "CHAOSKIT_LOAD_RECORDS_FD", "CHAOSKIT_LOAD_CONTROL_FD",
    "CHAOSKIT_LOAD_PARENT_PID")
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


class LoadAgent:
    """One agent process for one plan: ``start``, then ``take_records`` as often as wanted, ``wait``."""

    def __init__(self, plan: LoadPlan, *, python: str = sys.executable,
                 start_timeout_s: float = 60.0, stop_grace_s: float = 2.0) -> None:
        self.plan = plan
        self.notes: list[str] = []
        self._python = python
        self._start_timeout_s = start_timeout_s
        self._stop_grace_s = stop_grace_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._fds: dict[str, int] = {}
        self._buf = bytearray()
        self._ctl = bytearray()
        self._records = RecordStream(plan)
        self._ready: dict[str, Any] | None = None
        self._done: dict[str, Any] | None = None
        self._changed = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def t0_ns(self) -> int | None:
        """Scheduled instant of every target's first request, once the agent is ready."""
        return int(self._ready["t0_ns"]) if self._ready else None

    async def __aenter__(self) -> LoadAgent:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """Spawn the agent (own process group, dies with us) and wait until it is ready to load."""
        if self._proc is not None:
            raise AgentError("this agent was already started; use a new LoadAgent per run")
        rec_r, rec_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        plan_fd = _plan_fd(self.plan)
        self._fds = {"records": rec_r, "control": ctl_r}
        with contextlib.suppress(OSError):  # a bigger pipe only adds slack; the default works
            fcntl.fcntl(rec_w, _F_SETPIPE_SZ, _PIPE_BYTES)
        # A file, not a pipe: agent output can never block it. Closed in _close_fds.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        # The child sets its own parent-death signal (no preexec_fn: unsafe in threaded parents)
        # and exits if this pid is no longer its parent by then.
        env = {**os.environ, _PLAN_FD_ENV: str(plan_fd), _PARENT_ENV: str(os.getpid()),
               _RECORDS_FD_ENV: str(rec_w), _CONTROL_FD_ENV: str(ctl_w)}
        try:
            # fork+exec returns at once; not asyncio's subprocess API because its child watcher
            # would reap the child, while we watch a pidfd on our own loop.
            self._proc = subprocess.Popen(  # noqa: ASYNC220
                [self._python, str(LOCUSTFILE)], pass_fds=(rec_w, ctl_w, plan_fd), env=env,
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True)
        except OSError as exc:
            self._close_fds()
            raise AgentError(f"cannot start the load agent with {self._python}: {exc}") from exc
        finally:
            os.close(rec_w)
            os.close(ctl_w)
            os.close(plan_fd)
        self._watch()
        await self._await_ready()

    def _watch(self) -> None:
        assert self._proc is not None
        loop = asyncio.get_running_loop()
        self._fds["pid"] = os.pidfd_open(self._proc.pid)
        for name, callback in (("records", self._on_records), ("control", self._on_control),
                               ("pid", self._on_exit)):
            os.set_blocking(self._fds[name], False)
            loop.add_reader(self._fds[name], callback)

    async def _await_ready(self) -> None:
        ready = await self._until(lambda: self._ready is not None or self._exited,
                                  self._start_timeout_s)
        if ready and self._ready is not None:
            return
        await self._stop_process()
        tail = self._tail()
        self._close_fds()
        if not ready:
            raise AgentError(f"load agent not ready after {self._start_timeout_s:g} s",
                             output_tail=tail)
        raise AgentError(f"load agent exited with code {self.returncode} before it was ready",
                         output_tail=tail)

    @property
    def returncode(self) -> int | None:
        """The agent's exit code once it has exited (negative: killed by that signal)."""
        return self._proc.returncode if self._proc is not None else None

    def check(self) -> None:
        """Raise ``AgentError`` if the agent died before finishing (cheap; call it while loading)."""
        code = self.returncode
        if code is not None and (code != 0 or self._done is None):
            raise AgentError(f"load agent exited with code {code} during the run",
                             output_tail=self._tail())

    @property
    def _exited(self) -> bool:
        return "pid" not in self._fds and self._proc is not None

    async def _until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        return await until_changed(self._changed, condition, timeout_s)

    def _on_records(self) -> None:
        self._drain("records", self._buf)

    def _on_control(self) -> None:
        self._drain("control", self._ctl)
        while (end := self._ctl.find(b"\n")) >= 0:
            line = bytes(self._ctl[:end])
            del self._ctl[:end + 1]
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                if message.get("event") == "ready":
                    self._ready = message
                elif message.get("event") == "done":
                    self._done = message
        self._changed.set()

    def _drain(self, name: str, into: bytearray) -> None:
        fd = self._fds[name]
        while True:
            try:
                chunk = os.read(fd, _READ_BYTES)
            except BlockingIOError:
                return
            if not chunk:
                self._unwatch(name)
                self._changed.set()
                return
            into += chunk

    def _on_exit(self) -> None:
        assert self._proc is not None
        self._proc.poll()
        self._unwatch("pid")
        self._changed.set()

    def _unwatch(self, name: str) -> None:
        fd = self._fds.pop(name, None)
        if fd is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed: nothing to remove
                asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    def _close_fds(self) -> None:
        for name in list(self._fds):
            self._unwatch(name)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, self._log.tell() - _TAIL_BYTES))
        return self._log.read().decode(errors="replace")

    def take_records(self) -> pd.DataFrame:
        """Every record decoded since the last call (columns as in ``records.FRAME_COLUMNS``)."""
        self._records.decode_whole(self._buf)
        return self._records.take()

    async def wait(self, timeout_s: float) -> AgentReport:
        """Wait for the agent to finish its plan; the rest of the records stay for ``take_records``."""
        if self._proc is None:
            raise AgentError("wait() before start()")
        finished = await self._until(
            lambda: self._exited and "records" not in self._fds and "control" not in self._fds,
            timeout_s)
        if not finished:
            await self._stop_process()
            tail = self._tail()
            self._close_fds()
            raise AgentError(f"load agent still running after {timeout_s:g} s; stopped it",
                             output_tail=tail)
        self._records.decode_whole(self._buf)
        return self._report()

    def _report(self) -> AgentReport:
        code = self.returncode if self.returncode is not None else -1
        if self._buf:
            raise AgentError(f"record stream ended inside a record ({len(self._buf)} bytes left)")
        return build_report(self.plan, self._done, code, lags=self._records.lags, received=self._records.received,
                            output_tail=self._tail)

    async def stop(self) -> None:
        """SIGTERM the agent's process group, SIGKILL after a grace; idempotent, safe on abort paths."""
        await self._stop_process()
        self._close_fds()

    async def _stop_process(self) -> None:
        if self._proc is None:
            return
        if not self._exited:
            self._signal(signal.SIGTERM)
            if not await self._until(lambda: self._exited, self._stop_grace_s):
                self._signal(signal.SIGKILL)
                if not await self._until(lambda: self._exited, 5.0):
                    self._proc.wait(5.0)  # SIGKILL cannot be ignored; reap synchronously

    def _signal(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

