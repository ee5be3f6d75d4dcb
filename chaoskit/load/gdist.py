"""Locust's distributed mode (MasterRunner / WorkerRunner) driving chaoskit's schedule; agent process only.

The master waits for its N workers (each says ``chaoskit_hello`` once its handlers are registered), measures
each worker's clock against its own with NTP-style round trips over Locust's control channel (the sample
with the shortest round trip wins; its half round trip is the uncertainty), dispatches one user per worker
with Locust's dispatcher, then gives each worker its share (worker k of N runs requests k, k+N, ...) and the
first request's instant *on that worker's clock*, and reports ``ready`` to chaoskit with every worker's
offset. Workers stream their records to chaoskit themselves (their own pipe or pod log), not through the
master: the master never becomes the bottleneck the workers exist to remove, and a worker's records still
arrive if the master dies. The master stays until every worker has quit (or is missing), bounded.

Runs under gevent inside the agent process only; the chaoskit process never imports this module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import gevent
import gevent.event
import gevent.queue
from locust.env import Environment
from locust.rpc import Message
from locust.runners import MasterRunner, Runner, WorkerRunner

from chaoskit.load import roles
from chaoskit.load.plan import LoadPlan, Share

PINGS: Final = 16
PING_TIMEOUT_S: Final = 1.0
_LINGER_MS: Final = 2000


class RunLike(Protocol):
    """What this module needs of the locustfile's ``Run`` (the locustfile is ``__main__``: not importable)."""

    plan: LoadPlan
    t0_ns: int
    share: Share

    def begin(self, t0_ns: int, share: Share) -> None: ...

    def send(self, message: dict[str, Any]) -> None: ...

    @property
    def horizon_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Clock:
    """A worker's clock against the master's: ``offset_ns`` = worker - master, ± ``delay_ns`` / 2."""

    offset_ns: int
    delay_ns: int


def start_timeout_s() -> float:
    return float(os.environ.get(roles.START_TIMEOUT, "60"))


# --- worker -----------------------------------------------------------------------------------------
def connect_worker(env: Environment, run: RunLike) -> WorkerRunner:
    """Connect to the master (Locust retries for minutes; bounded by the agent's start timeout outside),
    answer clock pings, take the share and instant from ``chaoskit_start``, then say hello."""
    runner = env.create_worker_runner(os.environ[roles.MASTER_HOST], int(os.environ[roles.MASTER_PORT]))

    def on_ping(environment: Environment, msg: Message, **_: Any) -> None:
        received = time.time_ns()
        runner.send_message("chaoskit_pong", {**msg.data, "t2": received, "t3": time.time_ns()})

    def on_start(environment: Environment, msg: Message, **_: Any) -> None:
        run.begin(int(msg.data["t0_ns"]), Share(int(msg.data["index"]), int(msg.data["of"])))

    runner.register_message("chaoskit_ping", on_ping)
    runner.register_message("chaoskit_start", on_start)
    runner.send_message("chaoskit_hello", {"pid": os.getpid(), "index": runner.worker_index})
    return runner


def finish(runner: Runner, done: dict[str, Any] | None = None) -> None:
    """End this process's runner: a worker first tells the master it finished its share and leaves (Locust's
    own ``quit`` message); then the runner's greenlets stop and its socket closes, lingering (bounded) so
    those messages leave before the process does."""
    if isinstance(runner, WorkerRunner) and done is not None:
        runner.send_message("chaoskit_done", {"worker": done["worker"], "requests": done["requests"]})
        runner.client.send(Message("quit", None, runner.client_id))  # type: ignore[no-untyped-call]
    runner.quit()
    channel = runner.client if isinstance(runner, WorkerRunner) else getattr(runner, "server", None)
    if channel is not None:
        channel.socket.close(linger=_LINGER_MS)
        channel.socket.context.term()


# --- master -----------------------------------------------------------------------------------------
class _Inbox:
    """The master's custom messages, by worker (Locust client id)."""

    def __init__(self, runner: MasterRunner) -> None:
        self.hellos: dict[str, dict[str, Any]] = {}
        self.done: dict[str, dict[str, Any]] = {}
        self.pongs: dict[str, gevent.queue.Queue[tuple[dict[str, Any], int]]] = {}
        runner.register_message("chaoskit_hello", self._hello)
        runner.register_message("chaoskit_pong", self._pong)
        runner.register_message("chaoskit_done", self._done)

    def _hello(self, environment: Environment, msg: Message, **_: Any) -> None:
        self.hellos.setdefault(msg.node_id, msg.data)

    def _pong(self, environment: Environment, msg: Message, **_: Any) -> None:
        received = time.time_ns()
        self.pongs.setdefault(msg.node_id, gevent.queue.Queue()).put((msg.data, received))

    def _done(self, environment: Environment, msg: Message, **_: Any) -> None:
        self.done.setdefault(msg.node_id, msg.data)


def measure_clock(runner: MasterRunner, inbox: _Inbox, client_id: str) -> Clock | None:
    """The round trip with the least delay of PINGS, as NTP picks its best sample."""
    queue = inbox.pongs.setdefault(client_id, gevent.queue.Queue())
    best: Clock | None = None
    for seq in range(PINGS):
        t1 = time.time_ns()
        runner.send_message("chaoskit_ping", {"seq": seq, "t1": t1}, client_id=client_id)
        while True:
            try:
                data, t4 = queue.get(timeout=PING_TIMEOUT_S)
            except gevent.queue.Empty:
                break
            if data.get("seq") != seq:
                continue  # a late answer to an earlier ping
            t2, t3 = int(data["t2"]), int(data["t3"])
            sample = Clock(offset_ns=((t2 - t1) + (t3 - t4)) // 2, delay_ns=(t4 - t1) - (t3 - t2))
            if best is None or sample.delay_ns < best.delay_ns:
                best = sample
            break
    return best


def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        gevent.sleep(0.02)
    return True


def serve_master(env: Environment, run: RunLike) -> int:
    host, _, port = os.environ.get(roles.MASTER_BIND, "127.0.0.1:0").rpartition(":")
    runner = env.create_master_runner(host, int(port))
    inbox = _Inbox(runner)
    wanted = run.plan.workers
    run.send({"event": "listening", "port": runner.server.port, "pid": os.getpid()})
    if not _wait(lambda: len(inbox.hellos) >= wanted, start_timeout_s()):
        run.send({"event": "failed", "why": f"{len(inbox.hellos)} of {wanted} workers connected"})
        return _quit(runner, 1)
    clients = sorted(inbox.hellos, key=runner.get_worker_index)[:wanted]
    clocks = {c: measure_clock(runner, inbox, c) for c in clients}
    if lost := [c for c in clients if clocks[c] is None]:
        run.send({"event": "failed", "why": f"no answer to clock pings from {', '.join(lost)}"})
        return _quit(runner, 1)
    runner.start(wanted, spawn_rate=float(wanted))
    workers = _start_workers(runner, run, clients, clocks)
    run.send({"event": "ready", "t0_ns": run.t0_ns, "now_ns": time.time_ns(), "pid": os.getpid(),
              "workers": workers})
    gone = _wait(lambda: runner.worker_count == 0, run.horizon_s + 30.0)
    run.send({"event": "done", "workers_done": sorted(inbox.done[c]["worker"] for c in inbox.done),
              "all_left": gone})
    return _quit(runner, 0)


def _start_workers(runner: MasterRunner, run: RunLike, clients: list[str],
                   clocks: dict[str, Clock | None]) -> list[dict[str, Any]]:
    """Pick t0 (the plan's instant, else now + its lead) and send each worker its share and t0 on its clock."""
    same_clock = os.environ.get(roles.SAME_CLOCK) == "1"
    run.t0_ns = run.plan.start_at_ns or time.time_ns() + int(run.plan.start_lead_s * 1e9)
    workers = []
    for index, client in enumerate(clients):
        clock = clocks[client]
        assert clock is not None
        applied = 0 if same_clock else clock.offset_ns
        runner.send_message("chaoskit_start", {"t0_ns": run.t0_ns + applied, "index": index, "of": len(clients)},
                            client_id=client)
        workers.append({"index": index, "client_id": client, "offset_ns": clock.offset_ns,
                        "delay_ns": clock.delay_ns, "applied_ns": applied})
    return workers


def _quit(runner: MasterRunner, code: int) -> int:
    finish(runner)
    return code
