"""Benchmark: counting request records into Prometheus metrics, per record vs per batch, side by side.

Run: .venv/bin/python bench/bench_metrics.py [--batches 250,2000] [--records 200000] [--repeat 3]
Per record: prometheus-client Counter.inc + Histogram.observe for every record (the obvious way).
Per batch: chaoskit.metrics.RequestStats.add on each batch (pandas groupby + numpy searchsorted).
The engine hands observers a batch every 0.25 s, so a batch of 250 is 1k req/s and 2,000 is 8k req/s.
Also times one scrape (generate_latest) of each registry. Prints wall time per record and the ratio.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from chaoskit.analysis.synthetic import Outage, synthetic_requests
from chaoskit.metrics import RunMetrics
from chaoskit.metrics.names import LATENCY_BUCKETS_S


def records(n: int) -> pd.DataFrame:
    rate = 1000.0
    frame = synthetic_requests(duration_s=n / rate / 2, rate=rate, outages=[Outage("ClusterIP", 1.0, 3.0, every=3)])
    return frame.reset_index(drop=True)


def per_record(batches: list[pd.DataFrame]) -> tuple[float, CollectorRegistry]:
    registry = CollectorRegistry()
    requests = Counter("chaoskit_requests", "r", ["experiment", "service", "service_type", "outcome"],
                       registry=registry)
    latency = Histogram("chaoskit_request_duration_seconds", "l", ["experiment", "service", "service_type"],
                        buckets=LATENCY_BUCKETS_S, registry=registry)
    t0 = time.perf_counter()
    for batch in batches:
        for service, service_type, outcome, ok, latency_ns in zip(
                batch["service"].astype(str), batch["service_type"].astype(str), batch["outcome"].astype(str),
                batch["ok"], batch["latency_ns"], strict=True):
            requests.labels("bench", service, service_type, outcome).inc()
            if ok:
                latency.labels("bench", service, service_type).observe(latency_ns / 1e9)
    return time.perf_counter() - t0, registry


def per_batch(batches: list[pd.DataFrame]) -> tuple[float, CollectorRegistry]:
    metrics = RunMetrics("bench")
    t0 = time.perf_counter()
    for batch in batches:
        metrics.on_records(batch)
    return time.perf_counter() - t0, metrics.registry


def scrape_s(registry: CollectorRegistry) -> float:
    t0 = time.perf_counter()
    for _ in range(20):
        generate_latest(registry)
    return (time.perf_counter() - t0) / 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", default="250,2000", help="records per batch, comma-separated")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frame = records(args.records)
    print(f"{len(frame):,} records; best of {args.repeat}, per-record and per-batch alternated")
    print(f"{'batch':>6} {'per record us/rec':>18} {'per batch us/rec':>17} {'ratio':>7} "
          f"{'scrape ms (rec/batch)':>22}")
    for size in (int(s) for s in args.batches.split(",")):
        batches = [frame.iloc[i:i + size] for i in range(0, len(frame), size)]
        slow, fast = [], []
        for _ in range(args.repeat):
            slow.append(per_record(batches))
            fast.append(per_batch(batches))
        t_slow, t_fast = min(t for t, _ in slow), min(t for t, _ in fast)
        n = len(frame)
        scrapes = f"{scrape_s(slow[0][1]) * 1e3:.2f} / {scrape_s(fast[0][1]) * 1e3:.2f}"
        print(f"{size:>6} {t_slow / n * 1e6:>18.2f} {t_fast / n * 1e6:>17.2f} {t_slow / t_fast:>7.1f} {scrapes:>22}")


if __name__ == "__main__":
    main()
