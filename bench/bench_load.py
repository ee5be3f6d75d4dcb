"""Load agent benchmark: sustainable open-model rate on one core, and the cost of the record stream.

Run: .venv/bin/python bench/bench_load.py [--duration 5] [--rates 1000,2000,...]
The agent is pinned to core 0, a tiny uvloop HTTP server (and this process) to core 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass

from chaoskit.load.agent import AgentReport, LoadAgent, LoadPlan, LoadTarget

HOST = "127.62.9.1"
AGENT_CORE, SERVER_CORE = 0, 1

SERVER = r"""
import asyncio, os, socket, sys, uvloop
os.sched_setaffinity(0, {%(core)d})
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, d):
        self.buf += d
        while (i := self.buf.find(b"\r\n\r\n")) >= 0:
            head, self.buf = self.buf[:i], self.buf[i + 4:]
            self.t.write(OK)
            if b"connection: close" in head.lower():
                self.t.close(); return
async def main():
    srv = await asyncio.get_running_loop().create_server(P, "%(host)s", 0, backlog=4096)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""


@dataclass(frozen=True)
class Result:
    rate: float
    mode: str
    records: bool
    report: AgentReport
    ok: int

    @property
    def sustained(self) -> bool:
        r = self.report
        return r.p99_lag_ms < 20 and r.agent_saturated == 0 and self.ok == r.requests

    @property
    def cpu_per_10k(self) -> float:
        return self.report.cpu_seconds / self.report.requests * 10_000


async def run_once(port: int, rate: float, duration: float, mode: str, *,
                   records: bool) -> Result:
    plan = LoadPlan(targets=(LoadTarget("bench", "ClusterIP", HOST, port),), rate=rate,
                    duration_s=duration, connection=mode, timeout_s=2.0,  # type: ignore[arg-type]
                    records=records)
    agent = LoadAgent(plan)
    try:
        await agent.start()
        assert agent.pid is not None
        os.sched_setaffinity(agent.pid, {AGENT_CORE})
        report = await agent.wait(duration + 30)
        frame = agent.take_records()
        ok = int(frame["ok"].sum()) if records else report.requests
        return Result(rate, mode, records, report, ok)
    finally:
        await agent.stop()


def line(r: Result) -> str:
    p = r.report
    return (f"{r.mode:15} {r.rate:7.0f} req/s  sent {p.requests / (p.wall_seconds or 1):7.0f}/s  "
            f"ok {r.ok}/{p.requests}  cpu {p.cpu_utilisation:4.2f}  p99 lag {p.p99_lag_ms:6.2f} ms  "
            f"max lag {p.max_lag_ms:7.2f} ms  late {p.late_starts}  capped {p.agent_saturated}  "
            f"cpu/10k {r.cpu_per_10k:5.3f} s  {'SUSTAINED' if r.sustained else 'saturated'}")


async def sweep(port: int, rates: list[float], duration: float, mode: str) -> list[Result]:
    results = []
    for rate in rates:
        r = await run_once(port, rate, duration, mode, records=True)
        print(line(r), flush=True)
        results.append(r)
    return results


async def overhead(port: int, rate: float, duration: float, rounds: int) -> tuple[float, float]:
    on, off = [], []
    for _ in range(rounds):  # interleaved so machine noise hits both sides alike
        for records, into in ((True, on), (False, off)):
            r = await run_once(port, rate, duration, "keepalive", records=records)
            print(f"records={'on ' if records else 'off'} {line(r)}", flush=True)
            into.append(r.cpu_per_10k)
    return statistics.median(on), statistics.median(off)


async def main(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {SERVER_CORE})
    server = subprocess.Popen([sys.executable, "-c", SERVER % {"core": SERVER_CORE, "host": HOST}],
                              stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        rates = [float(x) for x in args.rates.split(",")]
        best = {}
        for mode in ("keepalive", "new-connection"):
            print(f"--- sweep {mode}, {args.duration:g} s per rate", flush=True)
            ok = [r.rate for r in await sweep(port, rates, args.duration, mode) if r.sustained]
            best[mode] = max(ok, default=0.0)
        print("--- capture overhead (records on vs off, keepalive)", flush=True)
        on, off = await overhead(port, args.overhead_rate, args.duration, args.rounds)
        print("=== summary")
        for mode, rate in best.items():
            print(f"highest sustained rate ({mode}, p99 lag < 20 ms, no failures): {rate:.0f} req/s")
        print(f"agent CPU per 10k requests: records on {on:.3f} s, off {off:.3f} s, "
              f"overhead {(on / off - 1) * 100:+.1f}%")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rates", default="1000,2000,3000,4000,5000,6000,7000,8000")
    parser.add_argument("--overhead-rate", type=float, default=4000.0)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
