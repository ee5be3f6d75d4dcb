"""Per load worker series: requests and start lag live (a batch of records at a time), health after the run.

The ``worker`` label is the records' ``worker`` column (``local/0``, ``in-cluster/1``...): bounded by the
worker count (at most ``chaoskit.load.plan.MAX_WORKERS`` per origin).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from chaoskit.load.report import WorkerReport
from chaoskit.metrics.names import (
    LAG_BUCKETS_S,
    LOAD_DELIVERED,
    WORKER_CLOCK_OFFSET,
    WORKER_CPU,
    WORKER_DELIVERED,
    WORKER_PLANNED,
    WORKER_REQUESTS,
    WORKER_SATURATED,
    WORKER_START_LAG,
)

_BOUNDS_NS: Final = np.array([round(b * 1e9) for b in LAG_BUCKETS_S], dtype=np.int64)
_LE: Final = (*(repr(float(b)) for b in LAG_BUCKETS_S), "+Inf")


class WorkerStats(Collector):
    """Records and start lags per worker while the run goes on; each worker's health once it has ended."""

    def __init__(self, experiment: str) -> None:
        self._experiment = experiment
        self._lock = threading.Lock()  # add() runs on the engine's loop, collect() on the HTTP server's thread
        self._requests: dict[str, int] = {}
        self._lag: dict[str, npt.NDArray[np.int64]] = {}
        self._lag_sum_ns: dict[str, int] = {}
        self._health: tuple[WorkerReport, ...] = ()

    def add(self, records: pd.DataFrame) -> None:
        """Count one batch of records (it needs the ``worker`` column; older frames without it are skipped)."""
        if not len(records) or "worker" not in records.columns:
            return
        codes, workers = pd.factorize(records["worker"])
        lag = (records["start_ns"].to_numpy(dtype=np.int64) - records["scheduled_ns"].to_numpy(dtype=np.int64))
        bucket = np.searchsorted(_BOUNDS_NS, lag, side="left")
        per_bucket = np.bincount(codes * len(_LE) + bucket, minlength=len(workers) * len(_LE)).reshape(
            len(workers), -1)
        sums = np.bincount(codes, weights=np.maximum(lag, 0), minlength=len(workers))
        with self._lock:
            for i, worker in enumerate(str(w) for w in workers):
                self._requests[worker] = self._requests.get(worker, 0) + int(per_bucket[i].sum())
                self._lag[worker] = self._lag.get(worker, np.zeros(len(_LE), dtype=np.int64)) + per_bucket[i]
                self._lag_sum_ns[worker] = self._lag_sum_ns.get(worker, 0) + round(float(sums[i]))

    def finish(self, workers: Sequence[WorkerReport]) -> None:
        """Each worker's health as its report says (planned, CPU, saturated, delivered, clock)."""
        with self._lock:
            self._health = tuple(workers)

    def describe(self) -> Iterable[Metric]:
        return [*self._live(), *self._final()]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            requests, lag, sums, health = dict(self._requests), dict(self._lag), dict(self._lag_sum_ns), self._health
        live_requests, live_lag = self._live()
        for worker, n in sorted(requests.items()):
            live_requests.add_metric([self._experiment, worker], n)
            live_lag.add_metric([self._experiment, worker], sum_value=sums[worker] / 1e9, buckets=[
                (le, float(c)) for le, c in zip(_LE, np.cumsum(lag[worker]), strict=True)])
        yield live_requests
        yield live_lag
        if health:
            yield from self._final_values(health)

    def _live(self) -> tuple[CounterMetricFamily, HistogramMetricFamily]:
        labels = ["experiment", "worker"]
        return (CounterMetricFamily(WORKER_REQUESTS, "Request records received from each load worker.", labels=labels),
                HistogramMetricFamily(WORKER_START_LAG, "Start lag (start - scheduled) of each worker's requests.",
                                      labels=labels, unit="seconds"))

    def _final(self) -> list[GaugeMetricFamily]:
        labels = ["experiment", "worker"]
        return [
            GaugeMetricFamily(WORKER_PLANNED, "Requests in each worker's share of the schedule.", labels=labels),
            GaugeMetricFamily(WORKER_CPU, "Each worker's CPU seconds per wall second over its load.", labels=labels),
            GaugeMetricFamily(WORKER_SATURATED, "1 when the worker was saturated (CPU > 90 %, p99 start lag "
                              "> 20 ms or requests refused by its in-flight cap).", labels=labels),
            GaugeMetricFamily(WORKER_DELIVERED, "1 when the worker ran its whole share and every request of it "
                              "was recorded.", labels=labels),
            GaugeMetricFamily(WORKER_CLOCK_OFFSET, "The worker's clock minus the run's, as measured.", labels=labels,
                              unit="seconds"),
            GaugeMetricFamily(LOAD_DELIVERED, "1 when every worker delivered its share: the planned load was "
                              "offered.", labels=["experiment"]),
        ]

    def _final_values(self, health: Sequence[WorkerReport]) -> Iterator[Metric]:
        planned, cpu, saturated, delivered, clock, overall = self._final()
        for w in health:
            labels = [self._experiment, w.worker]
            planned.add_metric(labels, w.planned)
            if w.cpu_utilisation is not None:
                cpu.add_metric(labels, w.cpu_utilisation)
            saturated.add_metric(labels, float(w.saturated))
            delivered.add_metric(labels, float(not w.problem))
            clock.add_metric(labels, w.clock_offset_ms / 1e3)
        overall.add_metric([self._experiment], float(all(not w.problem for w in health)))
        yield from (planned, cpu, saturated, delivered, clock, overall)
