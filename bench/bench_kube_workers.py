"""In-cluster load workers on a real cluster: a control run (no faults) loaded by 1 in-cluster agent and by
Locust's master + 2 worker pods, alternately, at one rate: delivered vs planned, availability, the clock
offsets the run measured and corrected, and the start lags.

Needs a cluster: `eval "$(testbed/env)"; .venv/bin/python bench/bench_kube_workers.py [--rounds 2] [--rate 200]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONTROL = ROOT / "tests" / "local" / "experiments" / "control.yaml"


def control_run(context: str, workers: int, rate: float, connection: str) -> dict[str, Any]:
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="chaoskit-bench-kube-") as out:
        spec = Path(out) / "control.yaml"
        spec.write_text(CONTROL.read_text().replace("connection: new-connection", f"connection: {connection}")
                        .replace("../../../manifests/target.yaml", str(ROOT / "manifests" / "target.yaml")))
        command = [sys.executable, "-m", "chaoskit.cli", "run", str(spec), "--backend", "kube", "--context", context,
                   "--yes", "--create-namespace", "--load-from", "in-cluster", "--workers", str(workers),
                   "--rate", f"{rate:g}", "--baseline", "2s", "--chaos", "8s", "--recovery", "2s", "--out", out,
                   "--json"]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode not in (0, 1, 4):  # a verdict (PASS, FAIL, INCONCLUSIVE), not an error
            raise SystemExit(f"run failed ({result.returncode}):\n{result.stderr[-3000:]}")
        requests = pd.read_parquet(next(p for p in Path(out).rglob("requests.parquet")))
    counts = requests.groupby(["service_type", "worker", "outcome"], observed=True).size()
    print(f"  outcomes by worker ({workers} workers): {counts.to_dict()}", flush=True)
    summary: dict[str, Any] = json.loads(result.stdout)
    if summary["verdict"]["inconclusive"]:
        print(f"  INCONCLUSIVE ({workers} workers): {summary['verdict']['inconclusive']}", flush=True)
    return summary


def row(workers: int, summary: dict[str, Any]) -> str:
    overall = next(r for r in summary["availability"] if r["service_type"] == "ClusterIP" and r["phase"] == "all")
    pods = [w for w in summary["context"]["workers"] if w["worker"].startswith("in-cluster/")]
    planned = sum(w["planned_rate"] for w in pods)
    delivered = sum(w["delivered_rate"] for w in pods)
    clocks = ", ".join(f"{w['clock_offset_ms']:+.3f} ± {w['clock_uncertainty_ms']:.3f}" for w in pods)
    lag = max(w["lag"]["p99_ms"] for w in pods)
    return (f"| {workers} | {planned:,.0f}/s | {delivered:,.0f}/s | {overall['ratio'] * 100:.3f}% "
            f"({overall['failed']}/{overall['requests']}) | {lag:.1f} ms | {clocks} ms |")


def main(rounds: int, rate: float, connection: str) -> None:
    context = os.environ["CHAOSKIT_KUBE_CONTEXT"]
    print(f"load average before: {os.getloadavg()}; {rate:g} req/s per address, {connection}")
    print("| worker pods | planned | delivered | ClusterIP availability | worst p99 start lag | clock offset ms |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    for _ in range(rounds):  # alternately, so drift of the shared machine hits both alike
        for workers in (1, 2):
            print(row(workers, control_run(context, workers, rate, connection)), flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--connection", default="new-connection")
    args = parser.parse_args()
    main(args.rounds, args.rate, args.connection)
