"""A run's memory against its length: peak RSS of the chaoskit process for runs of 0.1M, 1M and 3M requests.

Run: .venv/bin/python bench/bench_memory.py [--sizes 100000,1000000,3000000] [--rate 4000] [--workers 2]
Each size is one real `chaoskit run` on the embedded cluster (one built-in target pod behind a ClusterIP,
keep-alive, no faults, records on), in a fresh process so each peak is its own. The child records its peak RSS
twice: when the load has ended (collection: what the run holds while it runs) and after the analysis and the
saved files (the whole run). Flat across sizes means the run's memory does not grow with its length.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXPERIMENT = """name: memory
description: Keep-alive load on one pod, no faults; only the run's memory is measured.
target:
  namespace: chaoskit-bench
  manifests: [{manifests}]
  selector: {{app: chaoskit-target}}
  replicas: 1
load:
  rate: {rate}
  connection: keepalive
  timeout: 2s
  workers: {workers}
  services:
    - {{name: chaoskit-target, types: [ClusterIP]}}
phases: {{baseline: 1s, chaos: {chaos}s, recovery: 1s}}
faults: []
"""

MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {name: chaoskit-target, namespace: chaoskit-bench}
spec:
  replicas: 1
  selector: {matchLabels: {app: chaoskit-target}}
  template:
    metadata: {labels: {app: chaoskit-target}}
    spec:
      containers:
        - name: web
          image: chaoskit/target
          ports: [{containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /healthz, port: 8080}
            periodSeconds: 30
---
apiVersion: v1
kind: Service
metadata: {name: chaoskit-target, namespace: chaoskit-bench}
spec:
  selector: {app: chaoskit-target}
  ports: [{port: 8080, targetPort: 8080}]
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(experiment: Path, out: Path) -> None:
    """One run in this process; prints its peaks as JSON."""
    from chaoskit import kinds
    from chaoskit.cli.backends import KubeFlags, make_cluster
    from chaoskit.engine.observer import NullObserver, Observers
    from chaoskit.engine.runner import Engine, RunOptions

    probe: dict[str, float] = {}

    class Probe(NullObserver):
        def on_phase(self, phase: str, ends_at_ns: int) -> None:
            if phase == "verify":  # the load has ended and every record was taken
                probe["collect_peak_mb"] = peak_mb()

    spec = kinds.load_experiment(experiment)
    cluster = make_cluster("local", spec, KubeFlags(), seed=1)
    engine = Engine(spec, cluster, options=RunOptions(out_dir=out, seed=1), observers=Observers(Probe()))
    started = time.monotonic()
    record = asyncio.run(engine.run())
    agent = record.agent
    print(json.dumps({**probe, "run_peak_mb": peak_mb(), "requests": record.summary.requests,
                      "held_max": engine.collector.spool.max_held, "wall_s": time.monotonic() - started,
                      "delivered": agent.delivered if agent else None,
                      "saturated": agent.saturated if agent else None,
                      "p99_lag_ms": agent.p99_lag_ms if agent else None}))


def run_size(requests: int, rate: float, workers: int, tmp: Path) -> dict[str, object]:
    chaos = max(1.0, requests / rate - 2.0)
    (tmp / "target.yaml").write_text(MANIFEST)
    exp = tmp / f"memory-{requests}.yaml"
    exp.write_text(EXPERIMENT.format(manifests=tmp / "target.yaml", rate=rate, chaos=chaos, workers=workers))
    done = subprocess.run([sys.executable, __file__, "--child", str(exp), "--out", str(tmp / "runs")],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run of {requests} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(sizes: list[int], rate: float, workers: int) -> None:
    print(f"load average before: {os.getloadavg()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="chaoskit-bench-memory-") as tmp:
        for size in sizes:
            row = run_size(size, rate, workers, Path(tmp))
            rows.append(row)
            print(json.dumps({"size": size, **row}), flush=True)
    print(f"load average after: {os.getloadavg()}")
    print("| planned | recorded | peak RSS at the end of the load | peak RSS of the whole run | most rows held |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size, row in zip(sizes, rows, strict=True):
        print(f"| {size:,} | {row['requests']:,} | {row['collect_peak_mb']:.0f} MB | {row['run_peak_mb']:.0f} MB "
              f"| {row['held_max']:,} |")
    for key in ("collect_peak_mb", "run_peak_mb"):
        values = [float(r[key]) for r in rows]  # type: ignore[arg-type]
        print(f"{key}: max/min {max(values) / min(values):.2f} (flat within 20 %: "
              f"{'met' if max(values) / min(values) <= 1.2 else 'NOT met'}), max {max(values):.0f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000,3000000")
    parser.add_argument("--rate", type=float, default=4000.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--child")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), Path(args.out))
    else:
        main([int(s) for s in args.sizes.split(",")], args.rate, args.workers)
