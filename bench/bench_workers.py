"""Load workers on this host: honest throughput of 1 agent vs Locust's master + 2 workers on the embedded cluster
(new connection per request), and the cost of the distributed path and of merging records at equal rate.

Run: .venv/bin/python bench/bench_workers.py [--sections sweep,merge,budget] [--rates 1000,...] [--duration 5]
Sweep: for each rate, 1 worker then 2 workers (alternately, so drift of the shared machine hits both alike)
against the ClusterIP of 3 built-in target pods (the proxy hands each connection to a pod). A rate is honest
when p99 start lag < 20 ms, nothing hit the in-flight cap, every scheduled request was recorded and answered.
Merge: at one rate both ways; agent CPU per request (all processes) and chaoskit's CPU per record for taking,
labelling and merging the workers' streams. The load average is printed next to the figures.
Budget: at given (workers, rate) points, the cores each side keeps busy (the load agent; the pods and the proxy;
chaoskit's own process) and the whole machine's: whether CPU, not the workers, is what caps 2 workers here.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # Locust's dependency

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chaoskit.cluster.local.cluster import LocalCluster  # noqa: E402
from chaoskit.cluster.local.config import LocalClusterConfig  # noqa: E402
from chaoskit.cluster.manifests import in_namespace, load_manifest_files  # noqa: E402
from chaoskit.load.plan import LoadPlan, LoadTarget  # noqa: E402
from chaoskit.load.report import AgentReport  # noqa: E402
from chaoskit.load.workers import LocalWorkers, local_agent  # noqa: E402
from chaoskit.vocab import ServiceKind  # noqa: E402

NAMESPACE = "chaoskit-demo"
LABELS = {"app": "chaoskit-target"}


@dataclasses.dataclass(frozen=True)
class Point:
    workers: int
    rate: float
    report: AgentReport
    ok: int
    take_cpu_s: float
    """chaoskit's own CPU spent in take_records (decode, label, merge) over the run."""

    @property
    def honest(self) -> bool:
        r = self.report
        return r.p99_lag_ms < 20 and r.agent_saturated == 0 and r.delivered and self.ok == r.planned

    def line(self) -> str:
        r = self.report
        return (f"workers {self.workers}  {self.rate:6.0f} req/s  recorded {r.requests}/{r.planned}  ok {self.ok}  "
                f"p99 lag {r.p99_lag_ms:6.1f} ms  capped {r.agent_saturated}  "
                f"cpu/req {r.cpu_seconds / max(r.requests, 1) * 1e6:5.0f} µs  util {r.cpu_utilisation:4.2f}  "
                f"cpu-wait {r.cpu_wait_seconds:5.2f} s  "
                f"merge {self.take_cpu_s / max(r.requests, 1) * 1e6:4.1f} µs/rec  "
                f"{'HONEST' if self.honest else 'saturated'}")


def cpu_now() -> float:
    """This thread's CPU: the embedded cluster's own threads share the process and must not count."""
    return time.thread_time()


async def one(target: LoadTarget, rate: float, duration: float, workers: int, connection: str, *,
              distributed: bool = False) -> Point:
    """``distributed``: Locust's master and worker processes even for one worker (to price the distributed path)."""
    plan = LoadPlan(targets=(target,), rate=rate, duration_s=duration, connection=connection,  # type: ignore[arg-type]
                    timeout_s=2.0, workers=workers)
    agent = LocalWorkers(plan) if distributed else local_agent(plan)
    ok, take_cpu = 0, 0.0
    try:
        await agent.start()
        while agent.t0_ns is not None and time.time_ns() < agent.t0_ns + int(duration * 1e9):
            await asyncio.sleep(0.25)  # as the collector pulls
            before = cpu_now()
            ok += int(agent.take_records()["ok"].sum())
            take_cpu += cpu_now() - before
        report = await agent.wait(duration + 60)
        before = cpu_now()
        ok += int(agent.take_records()["ok"].sum())
        take_cpu += cpu_now() - before
    finally:
        await agent.stop()
    return Point(workers, rate, report, ok, take_cpu)


async def sweep(target: LoadTarget, rates: list[float], duration: float, trials: int) -> dict[int, float]:
    """Per rate, 1 worker then 2 workers, ``trials`` times; a rate is honest if any trial was (other work on
    this shared host only ever adds lag)."""
    best = {1: 0.0, 2: 0.0}
    for rate in rates:
        for _ in range(trials):
            for workers in (1, 2):
                point = await one(target, rate, duration, workers, "new-connection")
                print(point.line(), f"load {os.getloadavg()[0]:.1f}", flush=True)
                if point.honest:
                    best[workers] = max(best[workers], rate)
    return best


async def merge(target: LoadTarget, rate: float, duration: float, rounds: int) -> None:
    """At one rate: the single agent, Locust's master + 1 worker, master + 2 workers, interleaved."""
    ways = {"single agent": (1, False), "master + 1 worker": (1, True), "master + 2 workers": (2, True)}
    rows: dict[str, list[Point]] = {way: [] for way in ways}
    for _ in range(rounds):
        for way, (workers, distributed) in ways.items():
            point = await one(target, rate, duration, workers, "keepalive", distributed=distributed)
            rows[way].append(point)
            print(f"{way:18}", point.line(), f"load {os.getloadavg()[0]:.1f}", flush=True)
    base = 0.0
    for way, points in rows.items():
        cpu = sorted(p.report.cpu_seconds / p.report.requests * 1e6 for p in points)[len(points) // 2]
        merge_us = sorted(p.take_cpu_s / p.report.requests * 1e6 for p in points)[len(points) // 2]
        base = base or cpu + merge_us
        print(f"=== {way} at {rate:g} req/s keep-alive: worker CPU {cpu:.1f} µs/request, chaoskit taking+merging "
              f"{merge_us:.2f} µs/record (medians of {rounds}); total {(cpu + merge_us) / base:.3f}x the single agent")


def descendants_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of every live process below this one, by PID: the pods and the proxy."""
    out = {}
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            out[child.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return out


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot (anything but idle and I/O wait)."""
    times = psutil.cpu_times()
    return float(sum(times)) - float(times.idle) - float(getattr(times, "iowait", 0.0))


async def budget(target: LoadTarget, points: list[tuple[int, float]], duration: float, rounds: int) -> None:
    """Where the cores go: for each (workers, rate), the cores each side keeps busy over the run (load agent
    processes; the pods and the proxy; this process) and the whole machine's busy cores. When 2 workers' best
    rate already keeps every core busy, CPU is what caps them, not the workers."""
    cores = os.cpu_count() or 1
    for _ in range(rounds):
        for workers, rate in points:
            before, process_before, machine_before = descendants_cpu(), time.process_time(), machine_busy_s()
            wall_before = time.monotonic()
            point = await one(target, rate, duration, workers, "new-connection")
            wall = time.monotonic() - wall_before
            after, process_after, machine_after = descendants_cpu(), time.process_time(), machine_busy_s()
            service = sum(after[pid] - before[pid] for pid in before.keys() & after.keys())
            agent = point.report.cpu_seconds or 0.0
            own = process_after - process_before
            requests = max(point.report.requests, 1)
            print(point.line(), flush=True)
            need, busy = (agent + service + own) / duration, (machine_after - machine_before) / wall
            print(f"    CPU over the run: load agent {agent:.2f} s, pods + proxy {service:.2f} s, chaoskit {own:.2f} s "
                  f"(per request: agent {agent / requests * 1e6:.0f} µs, pods + proxy "
                  f"{service / requests * 1e6:.0f} µs): "
                  f"{need:.2f} of {cores} cores over the {duration:g} s of load; the whole machine was busy "
                  f"{busy:.2f} cores over {wall:.1f} s", flush=True)


async def main(args: argparse.Namespace) -> None:
    manifests, _ = in_namespace(load_manifest_files([ROOT / "manifests" / "target.yaml"]), NAMESPACE)
    print(f"load average before: {os.getloadavg()}")
    async with LocalCluster(LocalClusterConfig(), seed=3) as cluster:
        await cluster.apply(manifests)
        await cluster.wait_pods_ready(NAMESPACE, LABELS, count=3, timeout_s=60)
        (address,) = (await cluster.service_addresses(NAMESPACE, "chaoskit-target", ServiceKind.CLUSTER_IP))[:1]
        target = LoadTarget("chaoskit-target", "ClusterIP", address.host, address.port)
        sections = set(args.sections.split(","))
        if "sweep" in sections:
            best = await sweep(target, [float(r) for r in args.rates.split(",")], args.duration, args.trials)
            ratio = best[2] / best[1] if best[1] else float("nan")
            print(f"=== honest throughput, new connection per request: 1 worker {best[1]:.0f} req/s, 2 workers "
                  f"{best[2]:.0f} req/s: {ratio:.2f}x (target >= 1.7x: {'met' if ratio >= 1.7 else 'NOT met'})")
        if "merge" in sections:
            await merge(target, args.merge_rate, args.duration, args.rounds)
        if "budget" in sections:
            points = [(int(w), float(r)) for w, r in (p.split("@") for p in args.budget.split(","))]
            await budget(target, points, args.duration, args.rounds)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sections", default="sweep,merge")
    parser.add_argument("--rates", default="1000,1500,2000,2500,3000,3500,4000,5000")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--merge-rate", type=float, default=2000.0)
    parser.add_argument("--budget", default="1@4600,2@4600,2@6500",
                        help="WORKERS@RATE points for the budget section")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=2)
    parsed: Any = parser.parse_args()
    asyncio.run(main(parsed))
