"""Local cluster benchmarks: pod delete -> replacement Ready, and 100 pods across 3 nodes (time, RSS per pod).

Run: .venv/bin/python bench/bench_local_cluster.py [--deletes 40] [--pods 100]
Side by side in one run: the replacement-Ready latency is compared with the floor it cannot beat, a bare
`python -m chaoskit.standin` process going from spawn to answering HTTP on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.manifests import load_manifest_text
from chaoskit.cluster.protocol import EventKind
from chaoskit.process import spawn, terminate

NS = "bench"
MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: bench}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: httpd
          image: httpd:2.4
          ports: [{containerPort: 80}]
          readinessProbe: {httpGet: {path: /healthz, port: 80}, periodSeconds: 1, failureThreshold: 1}
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bare_start(ip: str) -> float:
    """Spawn the target on its own and poll until it answers: the floor of any pod start."""
    env = {**os.environ, "POD_NAME": "bare", "POD_IP": ip, "NODE_NAME": "none", "CHAOSKIT_LISTEN": f"{ip}:18080"}
    started = time.perf_counter()
    process = await spawn([sys.executable, "-m", "chaoskit.standin"], env=env)
    try:
        while True:
            try:
                _, writer = await asyncio.open_connection(ip, 18080)
                writer.close()
                return time.perf_counter() - started
            except OSError:
                await asyncio.sleep(0.002)
    finally:
        await terminate(process, grace_s=2)


async def delete_to_ready(deletes: int) -> list[float]:
    async with LocalCluster(seed=3) as cluster:
        await cluster.apply(load_manifest_text(MANIFEST.replace("REPLICAS", "3"), "bench"))
        await cluster.wait_pods_ready(NS, {"app": "web"}, count=3, timeout_s=60)
        latencies = []
        for _ in range(deletes):
            pods = await cluster.list_pods(NS, {"app": "web"})
            known = {p.name for p in pods}
            events = cluster.subscribe()
            started = time.time_ns()
            await cluster.delete_pod(NS, pods[0].name, grace_seconds=None)
            ready_ns = None
            while ready_ns is None:
                await events.wait(10)
                for event in events.drain():
                    if event.kind is EventKind.POD_READY and event.name not in known:
                        ready_ns = event.ts_ns
            events.close()
            latencies.append((ready_ns - started) / 1e9)
            await cluster.wait_pods_ready(NS, {"app": "web"}, count=3, timeout_s=30)
        return latencies


def rss_kib(pid: int) -> tuple[int, int]:
    rss = pss = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


async def hundred_pods(count: int) -> tuple[float, float, float]:
    async with LocalCluster(seed=4) as cluster:
        started = time.perf_counter()
        await cluster.apply(load_manifest_text(MANIFEST.replace("REPLICAS", str(count)), "bench"))
        await cluster.wait_pods_ready(NS, {"app": "web"}, count=count, timeout_s=300)
        elapsed = time.perf_counter() - started
        pids = [c.process.pid for p in cluster.control.pods.values() for c in p.containers if c.process]
        sizes = [rss_kib(pid) for pid in pids]
        return elapsed, statistics.mean(s[0] for s in sizes) / 1024, statistics.mean(s[1] for s in sizes) / 1024


async def main(deletes: int, pods: int) -> None:
    floors = [await bare_start("127.59.0.1") for _ in range(10)]
    latencies = await delete_to_ready(deletes)
    p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
    floor = statistics.median(floors)
    print(f"bare target spawn->answering   median {floor * 1000:6.1f} ms (n=10)")
    print(f"pod delete->replacement Ready  p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms  "
          f"max {max(latencies) * 1000:6.1f} ms (n={deletes})")
    print(f"ratio p50 / bare start         {p50 / floor:5.2f}x   (target p50 <= 300 ms: "
          f"{'met' if p50 <= 0.3 else 'NOT met'})")
    elapsed, rss, pss = await hundred_pods(pods)
    print(f"{pods} pods on 3 nodes: all Ready in {elapsed:5.2f} s; per pod RSS {rss:5.1f} MiB, PSS {pss:5.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deletes", type=int, default=40)
    parser.add_argument("--pods", type=int, default=100)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    asyncio.run(main(args.deletes, args.pods))
