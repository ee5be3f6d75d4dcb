"""The Locust file the load agent runs: open-model load on every target, one record per request.

Run as a script (``python locustfile.py``) by ``chaoskit.load.agent`` / ``chaoskit.load.workers`` (or the
in-cluster wrapper), which pass the plan, the role and the pipe fds in the environment. It imports locust
first (gevent monkey-patching) and no pydantic/pandas module. Locust's library API is used instead of its
``main()``: main prints stats to stdout, parses a run time string, starts a web UI and cannot start at a
given instant; here only its Environment and runners are needed. The record stream, not Locust's stats,
is the measurement.

Roles (``CHAOSKIT_LOAD_ROLE``): ``single`` runs the whole schedule in this process (Locust's LocalRunner);
``master`` and ``worker`` are Locust's distributed mode (``chaoskit.load.gdist``): the master waits for its
workers, measures their clocks, gives each its share and instant, and dispatches one user per worker;
each worker streams its own records. Whatever Locust dispatches later (a rebalance after a worker is lost),
a process runs its share once: a lost worker's requests are not silently taken over.
"""

from __future__ import annotations

import argparse
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
from locust.runners import Runner

from chaoskit.load import gdist, roles
from chaoskit.load.plan import LoadPlan, Share
from chaoskit.load.schedule import RecordSink, TargetRunner

_PR_SET_PDEATHSIG = 1


class Run:
    """Everything one agent process shares: the plan, its share, runners, sink and stop flag."""

    def __init__(self, plan: LoadPlan, records_fd: int | None, control_fd: int) -> None:
        self.plan = plan
        self.control_fd = control_fd
        self.stopping = gevent.event.Event()
        self.sink = RecordSink(records_fd if plan.records and records_fd is not None else None)
        self.share = Share(0, 1)
        self.runners: list[TargetRunner] = []
        self.started = gevent.event.Event()
        """Set once the instant and share are known (at once when single, by the master's message when a worker)."""
        self.finished = gevent.event.Event()
        self.failures: list[str] = []
        self.t0_ns = 0
        self._share_greenlet: Any = None

    def begin(self, t0_ns: int, share: Share) -> None:
        if self.started.is_set():
            return
        self.t0_ns, self.share = t0_ns, share
        self.runners = [TargetRunner(i, self.plan, self.sink, self.stopping, share)
                        for i in range(len(self.plan.targets))]
        self.started.set()

    def run_share(self) -> None:
        """Start this process's share (once) in a greenlet of its own, so no Locust stop or rebalance that
        kills a user greenlet can cut it short; then wait for it."""
        if self._share_greenlet is None:
            self._share_greenlet = gevent.spawn(self._run_targets)
        self.finished.wait()

    def _run_targets(self) -> None:
        try:
            gevent.joinall([gevent.spawn(self._run_target, r) for r in self.runners])
        finally:
            self.finished.set()

    def _run_target(self, runner: TargetRunner) -> None:
        try:
            runner.run(self.t0_ns)
        except Exception as exc:  # reported in the summary and the exit code, never swallowed
            self.failures.append(f"target {runner.index}: {exc!r}")

    def send(self, message: dict[str, Any]) -> None:
        view = memoryview((json.dumps(message) + "\n").encode())
        while view:
            view = view[gevent.os.nb_write(self.control_fd, view):]

    @property
    def horizon_s(self) -> float:
        """How long the share may take from now: until t0, the schedule, and its last timeouts."""
        return max(0.0, (self.t0_ns - time.time_ns()) / 1e9) + self.plan.duration_s + self.plan.timeout_s


def user_class(run: Run) -> type[User]:
    class ScheduleUser(User):
        """One per process: runs the process's share of every target's schedule."""

        @task
        def load(self) -> None:
            # A worker's user may be dispatched before the master's start message arrives.
            if run.started.wait(timeout=run.plan.duration_s + 60.0):
                run.run_share()
            raise StopUser

    return ScheduleUser


class CpuWindow:
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


def load(run: Run, runner: Runner, *, users: int) -> int:
    """Run this process's share to the end (``users``: how many this runner starts itself; 0 for a worker,
    whose user the master dispatches) and send the ``done`` summary."""
    # The agent process lives only for this run: freezing setup objects keeps GC passes short.
    gc.collect()
    gc.freeze()
    window = CpuWindow()
    if users:
        # Each user schedules from the absolute t0, so a ramp would only add lag. Locust warns about fast
        # ramps; here that warning is noise in the error tail.
        logging.getLogger("locust.runners").setLevel(logging.ERROR)
        runner.start(users, spawn_rate=10_000)
    # Beyond the runners' own bound (timeout + 5 s after their schedule), so this only trips on a bug.
    finished = run.finished.wait(timeout=run.horizon_s + 30.0)
    measured = window.close()
    run.sink.close()
    for r in run.runners:
        r.close()
    if not finished and not run.stopping.is_set():
        run.failures.append("targets did not finish within duration + timeout + 30 s")
    done = {"event": "done", "requests": run.sink.count, **measured, "worker": run.share.index,
            "agent_saturated": sum(r.saturated for r in run.runners),
            "connections": sum(r.endpoint.opened for r in run.runners),
            "stopped": run.stopping.is_set(), "failures": run.failures, **run.sink.lags.summary()}
    run.send(done)
    gdist.finish(runner, done)
    return 1 if run.failures else 0


def serve_single(run: Run) -> int:
    runner = Environment(user_classes=[user_class(run)]).create_local_runner()
    # Without a start instant: start after the plan's lead, so the user exists before request 0 is due.
    now_ns = time.time_ns()
    run.begin(run.plan.start_at_ns or now_ns + int(run.plan.start_lead_s * 1e9), Share(0, 1))
    run.send({"event": "ready", "t0_ns": run.t0_ns, "now_ns": now_ns, "pid": os.getpid(), "worker": 0})
    return load(run, runner, users=1)


def serve_worker(run: Run) -> int:
    # parsed_options set here so Locust's worker does not build its default ones (reading config files).
    env = Environment(user_classes=[user_class(run)],
                      parsed_options=argparse.Namespace(headless=True, web_base_path=""))
    runner = gdist.connect_worker(env, run)
    if not run.started.wait(timeout=gdist.start_timeout_s()):
        run.send({"event": "failed", "why": "no start message from the master"})
        gdist.finish(runner)
        return 1
    run.send({"event": "ready", "t0_ns": run.t0_ns, "now_ns": time.time_ns(), "pid": os.getpid(),
              "worker": run.share.index, "workers": run.share.of, "client_id": runner.client_id})
    return load(run, runner, users=0)


def serve_master(run: Run) -> int:
    return gdist.serve_master(Environment(user_classes=[user_class(run)]), run)


def _die_with_parent() -> None:
    """SIGKILL this process when its parent dies, and exit now if it already has."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = os.environ.get(roles.PARENT_PID)
    if parent is not None and os.getppid() != int(parent):
        os._exit(3)


def _read_plan() -> LoadPlan:
    """From an inherited fd (the local agent), a file (the in-cluster wrapper) or the environment.

    Read before any greenlet runs, so these blocking reads stall nothing.
    """
    if fd := os.environ.get(roles.PLAN_FD):
        with os.fdopen(int(fd), encoding="utf-8") as f:
            return LoadPlan.from_json(f.read())
    if path := os.environ.get(roles.PLAN_FILE):
        with open(path, encoding="utf-8") as f:
            return LoadPlan.from_json(f.read())
    return LoadPlan.from_json(os.environ[roles.PLAN])


def main() -> int:
    _die_with_parent()
    plan = _read_plan()
    records = os.environ.get(roles.RECORDS_FD)
    control_fd = int(os.environ[roles.CONTROL_FD])
    gevent.os.make_nonblocking(control_fd)
    run = Run(plan, int(records) if records else None, control_fd)
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, run.stopping.set)
    # Stopping wakes every scheduler; they then mark themselves done and the run ends early.
    role = os.environ.get(roles.ROLE, "single")
    serve = {"single": serve_single, "master": serve_master, "worker": serve_worker}.get(role)
    if serve is None:
        run.send({"event": "failed", "why": f"unknown role {role!r}"})
        return 2
    return serve(run)


if __name__ == "__main__":
    sys.exit(main())
