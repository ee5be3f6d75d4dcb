"""Request counters and the latency histogram, fed a batch of records at a time (vectorised, not per request)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from chaoskit.load.records import OUTCOME_LABELS
from chaoskit.metrics.names import LATENCY_BUCKETS_S, REQUEST_DURATION, REQUESTS

_BOUNDS_NS: Final = np.array([round(b * 1e9) for b in LATENCY_BUCKETS_S], dtype=np.int64)
_LE: Final = (*(repr(float(b)) for b in LATENCY_BUCKETS_S), "+Inf")
"""The ``le`` label values as Prometheus writes them (``0.001``, ``1.0``, ``+Inf``)."""

Target = tuple[str, str]
"""(Service name, Service type)."""


class RequestStats(Collector):
    """Requests by outcome and successful-request latency per (service, service_type), for one experiment.

    prometheus-client's Counter/Histogram take one observation per call (a lock and a bucket scan each);
    records arrive in batches of hundreds, so a batch is counted at once with integer codes and np.bincount
    (6-28x cheaper per record: bench/results-metrics.md).
    Latency counts successful requests only, as the analysis' percentiles do: a refused connect fails in
    microseconds and would pull the percentiles down exactly when users are hurting.
    """

    def __init__(self, experiment: str, *, targets: Iterable[Target] = ()) -> None:
        self._experiment = experiment
        self._lock = threading.Lock()  # add() runs on the engine's loop, collect() on the HTTP server's thread
        self._counts: dict[tuple[str, str, str], int] = {}
        self._buckets: dict[Target, npt.NDArray[np.int64]] = {}
        self._sums_ns: dict[Target, int] = {}
        for target in targets:
            self._declare(target)

    def _declare(self, target: Target) -> None:
        """Zero series for every outcome, so rate() sees a failure outcome's very first increment."""
        for outcome in OUTCOME_LABELS:
            self._counts.setdefault((*target, outcome), 0)
        self._buckets.setdefault(target, np.zeros(len(_LE), dtype=np.int64))
        self._sums_ns.setdefault(target, 0)

    def add(self, records: pd.DataFrame) -> None:
        """Count one batch of request records (columns as in ``chaoskit.load.records``)."""
        if not len(records):
            return
        service, services = _codes(records["service"])
        kind, kinds = _codes(records["service_type"])
        outcome, outcomes = _codes(records["outcome"])
        pair = service * len(kinds) + kind  # one small integer per (service, service_type)
        n_pairs = len(services) * len(kinds)
        counts = np.bincount(pair * len(outcomes) + outcome, minlength=n_pairs * len(outcomes))
        ok = records["ok"].to_numpy(dtype=bool)
        latency = records["latency_ns"].to_numpy(dtype=np.int64)[ok]
        bucket = np.searchsorted(_BOUNDS_NS, latency, side="left")
        per_bucket = np.bincount(pair[ok] * len(_LE) + bucket, minlength=n_pairs * len(_LE)).reshape(n_pairs, -1)
        sums = np.bincount(pair[ok], weights=latency, minlength=n_pairs)
        with self._lock:
            for code in np.flatnonzero(counts):
                p, o = divmod(int(code), len(outcomes))
                target = (services[p // len(kinds)], kinds[p % len(kinds)])
                self._declare(target)
                self._counts[(*target, outcomes[o])] += int(counts[code])
            for row in (int(r) for r in np.flatnonzero(per_bucket.sum(axis=1))):
                target = (services[row // len(kinds)], kinds[row % len(kinds)])
                self._buckets[target] += per_bucket[row]
                self._sums_ns[target] += round(float(sums[row]))

    def total(self) -> int:
        """Every request counted so far."""
        with self._lock:
            return sum(self._counts.values())

    def describe(self) -> Iterable[Metric]:
        return [self._requests_family(), self._latency_family()]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts = dict(self._counts)
            buckets = {k: v.copy() for k, v in self._buckets.items()}
            sums = dict(self._sums_ns)
        requests = self._requests_family()
        for (service, service_type, outcome), n in sorted(counts.items()):
            requests.add_metric([self._experiment, service, service_type, outcome], n)
        latency = self._latency_family()
        for (service, service_type), per_bucket in sorted(buckets.items()):
            cumulative = np.cumsum(per_bucket)
            latency.add_metric(
                [self._experiment, service, service_type],
                buckets=[(le, float(c)) for le, c in zip(_LE, cumulative, strict=True)],
                sum_value=sums[(service, service_type)] / 1e9,
            )
        yield requests
        yield latency

    @staticmethod
    def _requests_family() -> CounterMetricFamily:
        return CounterMetricFamily(REQUESTS, "Requests sent by the load agent, by how they ended.",
                                   labels=["experiment", "service", "service_type", "outcome"])

    @staticmethod
    def _latency_family() -> HistogramMetricFamily:
        return HistogramMetricFamily(REQUEST_DURATION, "Latency of successful requests (start to last byte).",
                                     labels=["experiment", "service", "service_type"], unit="seconds")


def _codes(column: pd.Series) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Integer codes and their labels: free for the agent's categorical columns, a hash pass for others."""
    codes, uniques = pd.factorize(column)
    return codes.astype(np.int64), [str(u) for u in uniques]
