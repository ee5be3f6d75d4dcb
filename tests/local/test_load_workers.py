"""Load spread over Locust's master and N worker processes: the merged records are the single agent's
schedule exactly, every request recorded once, and a worker that dies is reported, never silently lighter load."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from chaoskit.load.agent import LoadAgent
from chaoskit.load.plan import LoadPlan, LoadTarget
from chaoskit.load.report import AgentReport
from chaoskit.load.workers import LocalWorkers, local_agent
from tests.local.test_load_agent import Server, free_port
from tests.support import pid_alive

pytestmark = pytest.mark.local


@pytest.fixture
def started() -> Iterator[list[LocalWorkers]]:
    """Worker groups a test started; any process left alive is killed here, and the test fails."""
    groups: list[LocalWorkers] = []
    yield groups
    leaked = [p.pid for g in groups for p in g.processes if p.pid is not None and pid_alive(p.pid)]
    for pid in leaked:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    assert not leaked, f"load processes left running: {leaked}"


def two_targets(server: Server, *, rate: float, duration_s: float, workers: int) -> LoadPlan:
    other = "127.62.2.2"
    return LoadPlan(targets=(LoadTarget("web", "ClusterIP", server.host, server.port),
                             LoadTarget("web", "NodePort", other, free_port(other))),
                    rate=rate, duration_s=duration_s, connection="keepalive", timeout_s=1.0, workers=workers)


def run(plan: LoadPlan, started: list[LocalWorkers], *, kill_worker_after_s: float | None = None
        ) -> tuple[AgentReport, pd.DataFrame, int]:
    async def go() -> tuple[AgentReport, pd.DataFrame, int]:
        agent = LocalWorkers(plan)
        started.append(agent)
        frames = []
        try:
            await agent.start()
            assert agent.t0_ns is not None
            if kill_worker_after_s is not None:
                await asyncio.sleep(kill_worker_after_s)
                os.kill(agent.worker_pids[1], signal.SIGKILL)
            report = await agent.wait(plan.duration_s + 60)
            frames.append(agent.take_records())
        finally:
            await agent.stop()
        return report, pd.concat(frames, ignore_index=True), agent.t0_ns
    return asyncio.run(go())


def test_workers_merge_into_the_single_agent_schedule(started: list[LocalWorkers]) -> None:
    with Server("127.62.2.1") as server:
        plan = two_targets(server, rate=90.0, duration_s=2.0, workers=3)
        report, frame, t0 = run(plan, started)
    # Every scheduled request exactly once: 180 per address, none twice, none missing.
    assert report.delivered and report.problems == ()
    assert report.requests == report.planned == len(frame) == 360
    assert not frame.duplicated(["target", "scheduled_ns"]).any()
    # The merged instants are the single agent's constant-arrival schedule, instant for instant.
    expected = t0 + (np.arange(180) * (1e9 / 90.0)).astype(np.int64)
    for _, rows in frame.groupby("target", observed=True):
        assert (np.sort(rows["scheduled_ns"].to_numpy()) == expected).all()
    # Worker k ran requests k, k+3, k+6...: its instants are every third one from its index.
    assert sorted(frame["worker"].unique()) == ["local/0", "local/1", "local/2"]
    for k in range(3):
        mine = np.sort(frame.loc[(frame["worker"] == f"local/{k}") & (frame["service_type"] == "ClusterIP"),
                                 "scheduled_ns"].to_numpy())
        assert (mine == expected[k::3]).all()
    # Outcomes are the addresses' own: the ClusterIP answers, the NodePort refuses.
    assert frame.groupby("service_type", observed=True)["ok"].all().to_dict() == {"ClusterIP": True,
                                                                                  "NodePort": False}
    assert [(w.worker, w.planned, w.recorded, w.finished) for w in sorted(report.workers, key=lambda w: w.worker)] == [
        (f"local/{k}", 120, 120, True) for k in range(3)]
    assert all(w.clock_offset_ms == pytest.approx(0.0, abs=w.clock_uncertainty_ms + 0.5) for w in report.workers)


def test_a_worker_killed_mid_run_is_reported_not_silently_lighter(started: list[LocalWorkers]) -> None:
    with Server("127.62.2.3") as server:
        plan = two_targets(server, rate=50.0, duration_s=8.0, workers=2)
        report, frame, _ = run(plan, started, kill_worker_after_s=1.0)
    assert not report.delivered
    by_worker = {w.where: w for w in report.workers}
    dead = [w for w in by_worker.values() if w.exit_code == -9]
    alive = [w for w in by_worker.values() if w.exit_code == 0]
    assert len(dead) == len(alive) == 1
    # The survivor ran exactly its own share: nobody took over the dead worker's requests.
    assert alive[0].finished and alive[0].recorded == alive[0].planned == 400 and not alive[0].problem
    assert dead[0].recorded < dead[0].planned == 400
    assert report.problems == (dead[0].problem,)
    assert f"worker {dead[0].worker} ({dead[0].where}) died (signal 9)" in dead[0].problem
    assert (frame["worker"] == dead[0].worker).sum() == dead[0].recorded
    assert len(frame) == report.requests < report.planned


def test_one_worker_is_the_single_agent_and_more_is_locusts_distributed_mode() -> None:
    plan = LoadPlan(targets=(LoadTarget("web", "ClusterIP", "127.62.2.4", 8080),), rate=10.0, duration_s=1.0,
                    connection="keepalive", timeout_s=1.0)
    assert isinstance(local_agent(plan), LoadAgent)
    assert isinstance(local_agent(dataclasses.replace(plan, workers=2)), LocalWorkers)
