"""The load agent against real loopback servers: honest outcomes, no retries, open model, clean exits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Literal

import pandas as pd
import pytest

from chaoskit.load.agent import AgentError, AgentReport, LoadAgent, LoadPlan, LoadTarget
from tests.support import pid_alive

pytestmark = pytest.mark.local

Mode = Literal["keepalive", "new-connection"]
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class Server:
    """A threaded HTTP/1.1 server on a loopback address: counts connections, can reset, delay or stall."""

    def __init__(self, host: str, *, reset: bool = False, delay_s: float = 0.0,
                 stall_ns: tuple[int, int] | None = None, close_idle: bool = False) -> None:
        self.host = host
        self.reset, self.delay_s, self.stall_ns = reset, delay_s, stall_ns
        self.close_idle = close_idle
        """Close each connection right after a keep-alive response (an idle timeout of ~0)."""
        self.accepted = 0
        self._sock = socket.create_server((host, 0), backlog=1024)
        self.port: int = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._sock.close()
        self._thread.join(5)
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.reset:
                # Linger 0: close() sends RST instead of FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                continue
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn, contextlib.suppress(OSError):
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                self._hold()
                conn.sendall(RESPONSE)
                if self.close_idle or b"connection: close" in head.lower():
                    return

    def _hold(self) -> None:
        if self.stall_ns is not None:
            now = time.time_ns()
            if self.stall_ns[0] <= now < self.stall_ns[1]:
                time.sleep((self.stall_ns[1] - now) / 1e9)
        if self.delay_s:
            time.sleep(self.delay_s)


def free_port(host: str) -> int:
    """A port on ``host`` with nothing listening (bound once, then closed)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def make_plan(host: str, port: int, *, rate: float = 100.0, duration_s: float = 1.0,
              connection: Mode = "keepalive", timeout_s: float = 1.0,
              start_at_ns: int | None = None, in_flight_cap: int | None = None) -> LoadPlan:
    return LoadPlan(targets=(LoadTarget("web", "ClusterIP", host, port),), rate=rate,
                    duration_s=duration_s, connection=connection, timeout_s=timeout_s,
                    start_at_ns=start_at_ns, in_flight_cap=in_flight_cap)


def run_agent(plan: LoadPlan, agents: list[LoadAgent]) -> tuple[AgentReport, pd.DataFrame]:
    async def go() -> tuple[AgentReport, pd.DataFrame]:
        agent = LoadAgent(plan)
        agents.append(agent)
        try:
            await agent.start()
            report = await agent.wait(plan.duration_s + plan.timeout_s + 30)
            return report, agent.take_records()
        finally:
            await agent.stop()
    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["keepalive", "new-connection"])
def test_refused_connections_are_each_recorded_once(agents: list[LoadAgent], mode: Mode) -> None:
    host = "127.62.1.1"
    plan = make_plan(host, free_port(host), rate=200.0, connection=mode)
    report, frame = run_agent(plan, agents)
    # Exactly one record per scheduled request, all refused: nothing retried, nothing hidden.
    assert report.requests == 200
    assert frame["outcome"].value_counts().to_dict()["refused"] == 200
    assert frame["scheduled_ns"].is_unique


@pytest.mark.parametrize("mode", ["keepalive", "new-connection"])
def test_reset_connections_are_recorded_as_reset(agents: list[LoadAgent], mode: Mode) -> None:
    with Server("127.62.1.2", reset=True) as server:
        report, frame = run_agent(make_plan(server.host, server.port, connection=mode), agents)
    assert report.requests == 100
    assert (frame["outcome"] == "reset").sum() == 100
    assert server.accepted == 100  # one connection per request, none retried


def test_new_connection_opens_one_connection_per_request(agents: list[LoadAgent]) -> None:
    with Server("127.62.1.3") as server:
        report, frame = run_agent(
            make_plan(server.host, server.port, rate=200.0, connection="new-connection"), agents)
    assert report.requests == 200
    assert frame["ok"].all()
    assert server.accepted == report.connections == 200


def test_keepalive_reuses_connections(agents: list[LoadAgent]) -> None:
    with Server("127.62.1.4") as server:
        report, frame = run_agent(make_plan(server.host, server.port, rate=50.0, duration_s=2.0,
                                            connection="keepalive"), agents)
    assert report.requests == 100
    assert frame["ok"].all()
    assert report.connections == server.accepted
    # 20 ms between requests and sub-ms responses: a new connection only when a response was late.
    assert 1 <= server.accepted <= 25


def test_keepalive_does_not_reuse_a_connection_the_server_closed_while_idle(
        agents: list[LoadAgent]) -> None:
    with Server("127.62.1.14", close_idle=True) as server:
        report, frame = run_agent(make_plan(server.host, server.port, rate=20.0), agents)
    # The server's FIN arrives long before the next request (50 ms later): no request was sent on
    # a dead connection, so none failed, and each used a fresh connection.
    assert report.requests == 20
    assert frame["ok"].all()
    assert server.accepted == 20


def test_offered_load_does_not_drop_while_the_server_stalls(agents: list[LoadAgent]) -> None:
    rate, stall_s = 100.0, 1.0
    t0 = time.time_ns() + 3_000_000_000  # leaves the agent time to start before request 0
    stall = (t0 + 1_000_000_000, t0 + 2_000_000_000)
    with Server("127.62.1.5", stall_ns=stall) as server:
        plan = make_plan(server.host, server.port, rate=rate, duration_s=3.0, timeout_s=2.5,
                         start_at_ns=t0)
        report, frame = run_agent(plan, agents)
    assert report.requests == 300
    assert frame["ok"].all()
    sched = frame["scheduled_ns"]
    started = frame["start_ns"]
    assert ((sched >= stall[0]) & (sched < stall[1])).sum() == rate * stall_s
    # Requests really went out during the stall (open model), not after it; at most a few
    # straddle each edge of the window by their start lag.
    started_in_stall = ((started >= stall[0]) & (started < stall[1])).sum()
    assert abs(started_in_stall - rate * stall_s) <= 3
    first_stalled = frame.loc[sched == stall[0], "latency_ns"].iloc[0]
    assert first_stalled >= 0.9e9  # it waited for the stall to end: the stall was real
    assert server.accepted > 10  # stalled connections were busy, so new ones were opened


def test_each_target_gets_its_own_schedule_and_labels(agents: list[LoadAgent]) -> None:
    host = "127.62.1.15"
    with Server(host) as server:
        plan = LoadPlan(targets=(LoadTarget("web", "ClusterIP", host, server.port),
                                 LoadTarget("web", "NodePort", "127.62.1.16", free_port(host))),
                        rate=50.0, duration_s=1.0, connection="keepalive", timeout_s=1.0)
        report, frame = run_agent(plan, agents)
    assert report.requests == 100
    by_type = frame.groupby("service_type", observed=True)["outcome"]
    assert by_type.value_counts().unstack(fill_value=0).loc[:, ["ok", "refused"]].to_dict() == {
        "ok": {"ClusterIP": 50, "NodePort": 0}, "refused": {"ClusterIP": 0, "NodePort": 50}}
    assert set(frame["service"]) == {"web"}


def test_records_stream_while_the_agent_runs(agents: list[LoadAgent]) -> None:
    async def go() -> tuple[int, bool, int, int]:
        with Server("127.62.1.17") as server:
            agent = LoadAgent(make_plan(server.host, server.port, rate=100.0, duration_s=3.0))
            agents.append(agent)
            try:
                await agent.start()
                first = agent.take_records()
                for _ in range(100):  # bounded poll for the first batch
                    if len(first):
                        break
                    await asyncio.sleep(0.05)
                    first = agent.take_records()
                running = agent.returncode is None
                report = await agent.wait(60.0)
                rest = agent.take_records()
            finally:
                await agent.stop()
        both = len(first) + len(rest)
        unique = len(set(first["scheduled_ns"]) | set(rest["scheduled_ns"]))
        return len(first), running, both, unique if report.requests == both else -1
    first, running, total, unique = asyncio.run(go())
    assert first > 0 and running  # records arrived while the run went on
    assert total == unique == 300  # every record exactly once across take_records calls


def test_latency_is_measured(agents: list[LoadAgent]) -> None:
    with Server("127.62.1.6", delay_s=0.1) as server:
        report, frame = run_agent(make_plan(server.host, server.port, rate=20.0), agents)
    latency = frame["latency_ns"]
    assert report.requests == 20
    assert latency.min() >= 100_000_000
    assert latency.median() < 200_000_000  # 100 ms server delay, within a loopback tolerance


def test_slow_responses_time_out(agents: list[LoadAgent]) -> None:
    with Server("127.62.1.7", delay_s=0.5) as server:
        report, frame = run_agent(make_plan(server.host, server.port, rate=10.0,
                                            timeout_s=0.2), agents)
    assert report.requests == 10
    assert (frame["outcome"] == "timeout").sum() == 10


def test_requests_over_the_in_flight_cap_are_recorded_as_agent_saturated(
        agents: list[LoadAgent]) -> None:
    with Server("127.62.1.13", delay_s=2.0) as server:
        plan = make_plan(server.host, server.port, rate=100.0, timeout_s=1.5, in_flight_cap=10)
        report, frame = run_agent(plan, agents)
    counts = frame["outcome"].value_counts().to_dict()
    # The first 10 hold every slot until they time out at 1.5 s, after the 1 s schedule ended.
    assert counts["timeout"] == 10
    assert counts["agent_saturated"] == 90
    assert report.requests == 100
    assert report.agent_saturated == 90
    assert report.saturated


def test_stop_ends_the_agent_process_early(agents: list[LoadAgent]) -> None:
    async def go() -> tuple[int, bool]:
        agent = LoadAgent(make_plan("127.62.1.8", free_port("127.62.1.8"), duration_s=60.0))
        agents.append(agent)
        try:
            await agent.start()
            assert agent.pid is not None and pid_alive(agent.pid)
        finally:
            await agent.stop()
            await agent.stop()  # idempotent
        return agent.pid, pid_alive(agent.pid)
    pid, alive = asyncio.run(go())
    assert not alive, f"agent {pid} still running after stop()"


def test_a_killed_agent_is_reported_as_load_not_delivered(agents: list[LoadAgent]) -> None:
    """An agent that dies mid-run leaves records of what it did; the report says the rest never ran."""
    async def go() -> AgentReport:
        agent = LoadAgent(make_plan("127.62.1.9", free_port("127.62.1.9"), duration_s=60.0))
        agents.append(agent)
        try:
            await agent.start()
            assert agent.pid is not None
            os.kill(agent.pid, signal.SIGKILL)
            report = await agent.wait(30.0)
            with pytest.raises(AgentError, match="exited with code -9 during the run"):
                agent.check()
            return report
        finally:
            await agent.stop()
    report = asyncio.run(go())
    assert not report.delivered
    (worker,) = report.workers
    assert worker.exit_code == -9 and not worker.finished
    assert worker.recorded < worker.planned == 6000
    assert report.problems == (worker.problem,)
    assert "died (signal 9)" in worker.problem and "of its 6,000 requests recorded" in worker.problem


def test_an_agent_that_cannot_start_is_an_agent_error(agents: list[LoadAgent]) -> None:
    async def go() -> None:
        agent = LoadAgent(make_plan("127.62.1.10", 8080), python="/nonexistent/python")
        agents.append(agent)
        with pytest.raises(AgentError, match="cannot start"):
            await agent.start()
    asyncio.run(go())


def test_an_agent_that_dies_at_start_reports_its_output(
        agents: list[LoadAgent], tmp_path: Path) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ImportError: no module named locust' >&2\nexit 3\n")
    broken.chmod(0o755)

    async def go() -> None:
        agent = LoadAgent(make_plan("127.62.1.11", 8080), python=str(broken))
        agents.append(agent)
        with pytest.raises(AgentError, match="exited with code 3 before it was ready") as info:
            await agent.start()
        assert "no module named locust" in info.value.output_tail
    asyncio.run(go())


def test_the_agent_dies_with_its_parent(agents: list[LoadAgent]) -> None:
    """The parent-death signal: a chaoskit process killed by SIGKILL leaves no agent behind."""
    host = "127.62.1.12"
    parent_code = f"""
import asyncio, sys
from chaoskit.load.agent import LoadAgent, LoadPlan, LoadTarget
async def main():
    plan = LoadPlan(targets=(LoadTarget("web", "ClusterIP", "{host}", {free_port(host)}),),
                    rate=10.0, duration_s=60.0, connection="keepalive", timeout_s=1.0)
    agent = LoadAgent(plan)
    await agent.start()
    print(agent.pid, flush=True)
    await asyncio.sleep(120)
asyncio.run(main())
"""
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE,
                              start_new_session=True)
    agent_pid = 0
    try:
        assert parent.stdout is not None
        agent_pid = int(parent.stdout.readline())
        assert pid_alive(agent_pid)
        parent.kill()
        parent.wait(30)
        deadline = time.monotonic() + 30  # bounded wait for the kernel to deliver the signal
        while pid_alive(agent_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(agent_pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
        if agent_pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(agent_pid, signal.SIGKILL)
        parent.wait(30)
        if parent.stdout is not None:
            parent.stdout.close()
