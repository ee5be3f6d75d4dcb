"""Control run: `chaoskit run` with no fault at the load agent's ceiling must see 100.000 % on every address.

Run: .venv/bin/python bench/bench_control_run.py [--total-rate 3000] [--connection new-connection] [--runs 1]
     [--search]   (step down from the ceiling until the agent keeps up in the whole run)
The experiment is bench/experiments/control-run.yaml (the shipped target: one ClusterIP and one NodePort per
node, no fault). ``--total-rate`` is spread evenly over the addresses (the run's rate is per address); the
default is the agent's sustained ceiling from bench/bench_load.py (new-connection 3,000 req/s, keep-alive
8,000 req/s on one core: bench/results-load.md). Prints the rate used, the availability per address, the
agent's saturation flag and the run's notes. Any failed request is the embedded cluster's or the agent's
(there is no fault), so the figure to reach is 100.000 % with the agent not saturated.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPERIMENT = HERE / "experiments" / "control-run.yaml"
CEILING = {"new-connection": 3000.0, "keepalive": 8000.0}
"""The agent's sustained rate on one core (bench/results-load.md)."""
SEARCH_STEPS = (1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.1)
ADDRESSES = 4
"""ClusterIP + one NodePort per node of the local cluster's 3 nodes."""


def run_once(connection: str, total_rate: float, seconds: int) -> dict[str, object]:
    """One `chaoskit run`; returns its summary."""
    per_address = total_rate / ADDRESSES
    with tempfile.TemporaryDirectory(prefix="chaoskit-control-") as tmp:
        experiment = Path(tmp) / "control-run.yaml"
        text = EXPERIMENT.read_text().replace("connection: new-connection", f"connection: {connection}")
        experiment.write_text(text.replace("../../manifests/", f"{HERE.parent}/manifests/"))
        argv = [sys.executable, "-m", "chaoskit.cli", "run", str(experiment), "--json", "--out", tmp,
                "--rate", f"{per_address:g}", "--baseline", "5s", "--chaos", f"{seconds}s", "--recovery", "5s"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 180, check=False)
        if result.returncode not in (0, 1):
            raise SystemExit(f"chaoskit run failed ({result.returncode}):\n{result.stderr[-3000:]}")
        summary: dict[str, object] = json.loads(result.stdout)
        return summary


def show(summary: dict[str, object], connection: str, total_rate: float) -> bool:
    """Print the figures; True when every address held 100.000 % and the agent kept up."""
    agent = summary.get("agent") or {}
    assert isinstance(agent, dict)
    rows = summary["by_target"]
    assert isinstance(rows, list)
    print(f"rate used: {total_rate / ADDRESSES:g} req/s per address x {len(rows)} addresses = "
          f"{total_rate / ADDRESSES * len(rows):g} req/s, {connection}")
    held = True
    for row in rows:
        ratio = row["ratio"]
        held &= ratio == 1.0
        # agent_saturated: requests the agent could not start on time, its own failure (reported apart).
        not_agent = sum(n for outcome, n in row["failures_by_outcome"].items() if outcome != "agent_saturated")
        print(f"  {row['service_type']:9} {row['target']:32} {row['requests']:7} requests  "
              f"{100 * ratio:8.3f} %  failed {row['failed']} {row['failures_by_outcome'] or ''} "
              f"(not the agent's: {not_agent})")
    print(f"  agent: saturated={agent.get('saturated')} p99 start lag {agent.get('lag_p99_ms')} ms, "
          f"CPU {agent.get('cpu_utilisation')}")
    context = summary.get("context") or {}
    assert isinstance(context, dict)
    for note in context.get("notes", []):
        print(f"  note: {note}")
    return held and not agent.get("saturated")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connection", choices=sorted(CEILING), default="new-connection")
    parser.add_argument("--total-rate", type=float, help="req/s over all addresses (default: the agent's ceiling)")
    parser.add_argument("--seconds", type=int, default=20, help="the (fault-free) chaos phase")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--search", action="store_true",
                        help="step the rate down from the ceiling until a run's agent keeps up (this machine's "
                             "ceiling for a whole run: agent, pods and proxy share its cores)")
    args = parser.parse_args()
    total = args.total_rate or CEILING[args.connection]
    if args.search:
        for factor in SEARCH_STEPS:
            summary = run_once(args.connection, total * factor, args.seconds)
            held = show(summary, args.connection, total * factor)
            agent = summary.get("agent") or {}
            if isinstance(agent, dict) and not agent.get("saturated"):
                break
        return 0 if held else 1
    results = [show(run_once(args.connection, total, args.seconds), args.connection, total) for _ in range(args.runs)]
    print(f"{sum(results)} of {len(results)} runs held 100.000 % on every address with the agent keeping up")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
