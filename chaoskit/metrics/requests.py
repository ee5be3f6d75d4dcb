"""Request counters and the latency histogram, fed a batch of records at a time (vectorised, not per request)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Final, cast

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
    records arrive in batches of hundreds, so counting is done with numpy/pandas per batch instead.
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
        keys = ["service", "service_type"]
        counts = records.groupby([*keys, "outcome"], observed=True, sort=False).size()
        ok = records[records["ok"].to_numpy(dtype=bool)]
        latency = ok["latency_ns"].to_numpy(dtype=np.int64)
        bucket = pd.Series(np.searchsorted(_BOUNDS_NS, latency, side="left"), index=ok.index, name="bucket")
        per_bucket = ok[keys].assign(bucket=bucket).groupby([*keys, "bucket"], observed=True, sort=False).size()
        sums = ok.groupby(keys, observed=True, sort=False)["latency_ns"].sum()
        with self._lock:
            for (service, service_type, outcome), n in _items(counts):
                self._declare((service, service_type))
                self._counts[(service, service_type, outcome)] += n
            for (service, service_type, index), n in _items(per_bucket):
                self._buckets[(service, service_type)][int(index)] += n
            for (service, service_type), total in _items(sums):
                self._sums_ns[(service, service_type)] += total

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


def _items(grouped: pd.Series) -> list[tuple[tuple[str, ...], int]]:
    """(group key as strings, integer value) of a groupby result with a MultiIndex."""
    return [(tuple(str(part) for part in cast(tuple[object, ...], key)), int(value)) for key, value in grouped.items()]
