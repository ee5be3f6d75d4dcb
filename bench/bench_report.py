"""Benchmark: report.html for synthetic runs of 100k and 1M requests (time to render, file size).

Run: .venv/bin/python bench/bench_report.py [--sizes 100000,1000000] [--repeat 3]
Each size is rendered in a fresh child process (so the first render pays the matplotlib import, as a real run
does), ``--repeat`` times; prints the best and the median wall time, the CPU time of the best, the file size and
the number of charts, against the budget (<= 5 s and <= 5 MB at 1M requests).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

BUDGET_S = 5.0
BUDGET_MB = 5.0


def child(size: int) -> dict[str, float]:
    """Build a synthetic run of ``size`` requests, then time report.html's render (in this process)."""
    import numpy as np

    from chaoskit.analysis import SloTargets, summarize
    from chaoskit.analysis.synthetic import Outage, PodDeleteScript, events_frame, pod_delete_events, synthetic_requests

    duration = 300.0
    rate = size / duration / 2  # two service types
    faults = tuple(20.0 + 20 * i for i in range(12))
    outages = [Outage(t, f + 0.05, f + 0.45, every=1 + i % 3) for i, f in enumerate(faults)
               for t in ("ClusterIP", "NodePort")]  # fmt: skip
    requests = synthetic_requests(duration_s=duration, rate=rate, outages=outages, seed=3)
    stray = np.random.default_rng(5).choice(len(requests), 500, replace=False)
    requests.loc[stray, "ok"] = False
    requests.loc[stray, "outcome"] = "reset"
    phases = [("baseline", 15.0), ("chaos", 245.0), ("recovery", 40.0)]
    events = events_frame(pod_delete_events(PodDeleteScript(faults), phases=phases))
    summary = summarize(requests, events, [], SloTargets(availability=0.99, recovery_s=5.0), experiment="bench",
                        backend="local", run_id="bench", aborted=False, agent=None)
    from chaoskit.report import html, markdown

    report_md = markdown.render(summary)
    wall, cpu = time.perf_counter(), time.process_time()
    page = html.render(summary, requests, events, report_md=report_md)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu, "bytes": len(page.encode()), "charts": page.count('<figure class="chart"'),
            "requests": len(requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    print(f"{'requests':>10} {'best s':>7} {'median s':>8} {'cpu s':>6} {'size MB':>8} {'charts':>6}  budget")
    for size in (int(s) for s in args.sizes.split(",")):
        results = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, __file__, "--child", str(size)], check=True, capture_output=True,
                                 text=True, timeout=600)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        best = min(results, key=lambda r: r["wall_s"])
        median = statistics.median(r["wall_s"] for r in results)
        mb = best["bytes"] / 1e6
        verdict = "met" if best["wall_s"] <= BUDGET_S and mb <= BUDGET_MB else "MISSED"
        print(f"{best['requests']:>10,} {best['wall_s']:>7.2f} {median:>8.2f} {best['cpu_s']:>6.2f} {mb:>8.2f} "
              f"{best['charts']:>6}  <= {BUDGET_S:g} s and <= {BUDGET_MB:g} MB: {verdict}")


if __name__ == "__main__":
    main()
