"""The Locust file the load agent runs: one user per target, open-model load, one record per request.

Run as a script (``python locustfile.py``) by ``chaoskit.load.agent``, which passes the plan and two pipe
fds in the environment. It imports locust first (gevent monkey-patching) and no pydantic/pandas module.
Locust's library API is used instead of its ``main()``: main prints stats to stdout, parses a run time
string, starts a web UI and cannot start at a given instant; here only its Environment and runner are
needed. The record stream, not Locust's stats, is the measurement.
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import resource
import signal
import sys
import time
from typing import Any

import gevent
import gevent.event
import gevent.os
import locust  # noqa: F401  -- monkey-patches at import; nothing above opens sockets or threads
from locust import User, task
from locust.env import Environment
from locust.exception import StopUser

from chaoskit.load.plan import LoadPlan
from chaoskit.load.schedule import RecordSink, TargetRunner, lag_summary

PLAN_ENV = "CHAOSKIT_LOAD_PLAN"
PLAN_FD_ENV = "CHAOSKIT_LOAD_PLAN_FD"
PLAN_FILE_ENV = "CHAOSKIT_LOAD_PLAN_FILE"
RECORDS_FD_ENV = "CHAOSKIT_LOAD_RECORDS_FD"
CONTROL_FD_ENV = "CHAOSKIT_LOAD_CONTROL_FD"
PARENT_ENV = "CHAOSKIT_LOAD_PARENT_PID"
_PR_SET_PDEATHSIG = 1


class _Run:
    """Everything one agent run shares: the plan, runners, sink and stop flag (one per process)."""

    def __init__(self, plan: LoadPlan, records_fd: int | None) -> None:
        self.plan = plan
        self.stopping = gevent.event.Event()
        self.sink = RecordSink(records_fd if plan.records else None)
        self.runners = [TargetRunner(i, plan, self.sink, self.stopping)
                        for i in range(len(plan.targets))]
        self.done = [gevent.event.Event() for _ in plan.targets]
        self.failures: list[str] = []
        self.t0_ns = 0


def _user_class(run: _Run, index: int) -> type[User]:
    target = run.plan.targets[index]

    class TargetUser(User):
        fixed_count = 1
        host = f"http://{target.host}:{target.port}"

        @task
        def load(self) -> None:
            try:
                run.runners[index].run(run.t0_ns)
            except Exception as exc:  # reported in the summary and the exit code, never swallowed
                run.failures.append(f"target {index}: {exc!r}")
            finally:
                run.done[index].set()
            raise StopUser

    TargetUser.__name__ = TargetUser.__qualname__ = f"Target{index}_{target.service_type}"
    return TargetUser


def _send(fd: int, message: dict[str, Any]) -> None:
    view = memoryview((json.dumps(message) + "\n").encode())
    while view:
        view = view[gevent.os.nb_write(fd, view):]


class _Window:
    """CPU, wall and CPU-wait (runnable but not running) seconds of this process over the load."""

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        try:
            with open("/proc/self/schedstat") as f:
                waited = int(f.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            waited = 0.0
        return usage.ru_utime + usage.ru_stime, time.monotonic(), waited

    def close(self) -> dict[str, float]:
        end = self._sample()
        cpu, wall, wait = (b - a for a, b in zip(self._start, end, strict=True))
        return {"cpu_seconds": cpu, "wall_seconds": wall, "cpu_wait_seconds": wait}


def _execute(run: _Run, control_fd: int) -> int:
    env = Environment(user_classes=[_user_class(run, i) for i in range(len(run.plan.targets))])
    runner = env.create_local_runner()
    # Without a start instant: start after the plan's lead, so users exist before request 0 is due.
    now_ns = time.time_ns()
    run.t0_ns = run.plan.start_at_ns or now_ns + int(run.plan.start_lead_s * 1e9)
    _send(control_fd, {"event": "ready", "t0_ns": run.t0_ns, "now_ns": now_ns, "pid": os.getpid()})
    # The agent process lives only for this run: freezing setup objects keeps GC passes short.
    gc.collect()
    gc.freeze()
    window = _Window()
    # Every user at once: each schedules from the absolute t0, so a ramp would only add lag. Locust
    # warns about fast ramps; here that warning is noise in the error tail.
    logging.getLogger("locust.runners").setLevel(logging.ERROR)
    runner.start(len(run.runners), spawn_rate=10_000)
    horizon = max(0.0, (run.t0_ns - time.time_ns()) / 1e9) + run.plan.duration_s
    # Beyond the runners' own bound (timeout + 5 s after their schedule), so this only trips on a bug.
    finished = gevent.wait(run.done, timeout=horizon + run.plan.timeout_s + 30.0)
    measured = window.close()
    runner.quit()
    run.sink.close()
    for r in run.runners:
        r.close()
    if len(finished) < len(run.done) and not run.stopping.is_set():
        run.failures.append("targets did not finish within duration + timeout + 30 s")
    _send(control_fd, {
        "event": "done", "requests": run.sink.count, **measured,
        "agent_saturated": sum(r.saturated for r in run.runners),
        "connections": sum(r.endpoint.opened for r in run.runners),
        "stopped": run.stopping.is_set(), "failures": run.failures,
        **lag_summary(run.sink.lags_ns),
    })
    return 1 if run.failures else 0


def _die_with_parent() -> None:
    """SIGKILL this process when its parent dies, and exit now if it already has."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = os.environ.get(PARENT_ENV)
    if parent is not None and os.getppid() != int(parent):
        os._exit(3)


def _read_plan() -> LoadPlan:
    """From an inherited fd (the local agent), a file (the in-cluster wrapper) or the environment.

    Read before any greenlet runs, so these blocking reads stall nothing.
    """
    if fd := os.environ.get(PLAN_FD_ENV):
        with os.fdopen(int(fd), encoding="utf-8") as f:
            return LoadPlan.from_json(f.read())
    if path := os.environ.get(PLAN_FILE_ENV):
        with open(path, encoding="utf-8") as f:
            return LoadPlan.from_json(f.read())
    return LoadPlan.from_json(os.environ[PLAN_ENV])


def main() -> int:
    _die_with_parent()
    plan = _read_plan()
    records_fd = int(os.environ[RECORDS_FD_ENV])
    control_fd = int(os.environ[CONTROL_FD_ENV])
    gevent.os.make_nonblocking(control_fd)
    run = _Run(plan, records_fd)
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, run.stopping.set)
    # Stopping wakes every scheduler; they then mark themselves done and the run ends early.
    return _execute(run, control_fd)


if __name__ == "__main__":
    sys.exit(main())
