"""Memory of the after-load stages (read back, summary, report.md, report.html) on synthetic runs.

Run: .venv/bin/python bench/bench_analysis_memory.py [--sizes 1000000,3000000] [--against PATH] [--pairs 2]
Each size: a synthetic run like bench_memory.py's (one ClusterIP address, keep-alive at 4,000 req/s, one 0.3 s
outage) written through the engine's own RequestSpool; then each stage runs in a fresh process that resets its
peak RSS (``/proc/self/clear_refs``) before the stage and reads VmHWM after it. ``--against PATH``: another
checkout (e.g. ``git worktree add /tmp/old COMMIT``) measured alternately with this one, A B A B, so the ratio
of the two is taken side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("read", "summary", "report.md", "report.html")
"""read: the whole table read back (older checkouts), or its one scan (the analysis in passes)."""


def generate(size: int, out: Path) -> None:
    import numpy as np
    import pandas as pd

    from chaoskit.analysis.synthetic import Outage, events_frame, phase_events, synthetic_requests
    from chaoskit.engine.spool import RequestSpool

    rate = 4000.0
    duration = size / rate
    requests = synthetic_requests(duration_s=duration, rate=rate, types=("ClusterIP",), latency_ms=0.5, seed=3,
                                  outages=[Outage("ClusterIP", duration / 2, duration / 2 + 0.3)])
    requests["target"] = pd.Categorical(["10.96.0.10:8080"] * len(requests))
    requests["worker"] = pd.Categorical(np.where(np.arange(len(requests)) % 2 == 0, "local/0", "local/1"))
    spool = RequestSpool(out / "requests.parquet")
    for at in range(0, len(requests), 50_000):
        spool.append(requests.iloc[at:at + 50_000].reset_index(drop=True))
    spool.finish()
    events_frame(phase_events([("baseline", 1.0), ("chaos", duration - 2.0), ("recovery", 1.0)])).to_parquet(
        out / "events.parquet")


def _status() -> dict[str, int]:
    with open("/proc/self/status") as status:
        return {line.split(":")[0]: int(line.split()[1]) // 1024 for line in status
                if line.startswith(("VmHWM", "VmRSS"))}


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def child(run: Path) -> dict[str, dict[str, int]]:
    """The stages in this process (whichever chaoskit is first on sys.path); VmHWM and VmRSS after each."""
    import pandas as pd

    from chaoskit.analysis import SloTargets, summarize
    from chaoskit.engine.record import RunContext
    from chaoskit.engine.save import render_html, render_report
    from chaoskit.engine.spool import StoredRequests
    from chaoskit.report import charts, html  # noqa: F401  (imported before the first peak, as a run has them)

    found = {"imports": _status()}
    events = pd.read_parquet(run / "events.parquet")
    _reset_peak()
    try:  # since the analysis reads requests.parquet in passes, as the engine does: scanned, not held
        from chaoskit.analysis.stored import StoredTable

        table = StoredTable(run / "requests.parquet")
        _ = table.scan
    except ImportError:  # an older checkout (--against): the engine read the whole table back
        table = StoredRequests.at(run / "requests.parquet").frame()
    found["read"] = _status()
    _reset_peak()
    summary = summarize(table, events, [], SloTargets(availability=0.99), experiment="bench", backend="local",
                        run_id="bench", aborted=False, agent=None)
    found["summary"] = _status()
    context = RunContext(notes=(), load="bench", seed=1, version="bench", workers=())
    _reset_peak()
    report_md = render_report(summary, context)
    found["report.md"] = _status()
    _reset_peak()
    render_html(summary, context, table, events, report_md=report_md)
    found["report.html"] = _status()
    return found


def measure(checkout: Path, run: Path) -> dict[str, dict[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, __file__, "--child", str(run)], env=env, capture_output=True, text=True,
                          check=True, cwd=checkout)
    result: dict[str, dict[str, int]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(sizes: list[int], against: Path | None, pairs: int) -> None:
    sides = [("this", ROOT)] + ([("against", against)] if against else [])
    with tempfile.TemporaryDirectory(prefix="chaoskit-bench-analysis-memory-") as tmp:
        for size in sizes:
            run = Path(tmp) / str(size)
            run.mkdir()
            generate(size, run)
            peaks: dict[str, list[int]] = {name: [] for name, _ in sides}
            for _ in range(pairs):
                for name, checkout in reversed(sides):  # A B A B: the other checkout first
                    found = measure(checkout, run)
                    peak = max(found[s]["VmHWM"] for s in STAGES)
                    peaks[name].append(peak)
                    stages = " ".join(f"{s} {found[s]['VmHWM']}/{found[s]['VmRSS']}" for s in STAGES)
                    print(f"{size:>10,} {name:8} imports {found['imports']['VmRSS']} MB; peak/after per stage: "
                          f"{stages} MB; whole peak {peak} MB", flush=True)
            if against:
                ratios = [a / b for a, b in zip(peaks["this"], peaks["against"], strict=True)]
                print(f"{size:>10,} whole peak, this / against: " + ", ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000000,3000000")
    parser.add_argument("--against", type=Path)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--child", type=Path)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, os.environ.get("PYTHONPATH", str(ROOT)))
        print(json.dumps(child(args.child)))
    else:
        sys.path.insert(0, str(ROOT))
        main([int(s) for s in args.sizes.split(",")], args.against, args.pairs)
