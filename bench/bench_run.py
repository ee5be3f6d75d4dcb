"""`chaoskit run pod-recreate` with default durations: wall time including the report, vs the phases' own length.

Run: .venv/bin/python bench/bench_run.py [--runs 2]
The ratio (wall / phase total) shows what setup, start-up, verify, teardown and analysis add on top of the
experiment's baseline + chaos + recovery, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(runs: int) -> None:
    sys.path.insert(0, str(ROOT))
    from chaoskit.kinds import load_experiment

    phases = load_experiment(ROOT / "experiments" / "pod-recreate.yaml").total_duration_s
    walls = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "chaoskit.cli", "run", "pod-recreate", "--quiet",
                                     "--out", out], cwd=ROOT, capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - started)
            print(f"run: {walls[-1]:5.1f} s, exit {result.returncode}: {result.stdout.strip()}")
    wall = statistics.median(walls)
    print(f"phases {phases:.1f} s; wall median {wall:.1f} s (n={runs}); ratio {wall / phases:.2f}x; "
          f"target wall <= 60 s: {'met' if wall <= 60 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    main(parser.parse_args().runs)
