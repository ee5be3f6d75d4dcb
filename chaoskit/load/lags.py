"""Start lag (start - scheduled) statistics in fixed memory: a bucketed histogram both sides share.

The agent process keeps one for its own summary, and chaoskit keeps one per worker stream (vectorised in
``chaoskit.load.stream``), so neither holds a value per request however long the run. Buckets are 10 µs wide
below 100 ms (where the saturation line of 20 ms and the late line of 10 ms lie) and 1 ms wide up to 60 s;
a quantile is reported as its bucket's upper edge, so it never understates a lag. Stdlib only: the agent
process (gevent, no numpy) imports it.
"""

from __future__ import annotations

import math
from array import array
from typing import Final

FINE_US: Final = 10
FINE_LIMIT_US: Final = 100_000
COARSE_US: Final = 1_000
COARSE_LIMIT_US: Final = 60_000_000
FINE_BUCKETS: Final = FINE_LIMIT_US // FINE_US
BUCKETS: Final = FINE_BUCKETS + (COARSE_LIMIT_US - FINE_LIMIT_US) // COARSE_US + 1
"""The last bucket holds every lag of 60 s or more."""
LATE_NS: Final = 10_000_000
"""A start more than 10 ms after its schedule is late."""


def bucket_of(lag_ns: int) -> int:
    us = max(0, lag_ns) // 1000
    if us < FINE_LIMIT_US:
        return us // FINE_US
    return min(FINE_BUCKETS + (us - FINE_LIMIT_US) // COARSE_US, BUCKETS - 1)


def upper_edge_ns(bucket: int) -> int:
    """The largest lag (exclusive) a bucket holds; the overflow bucket reports 60 s."""
    if bucket < FINE_BUCKETS:
        return (bucket + 1) * FINE_US * 1000
    return min(FINE_LIMIT_US + (bucket - FINE_BUCKETS + 1) * COARSE_US, COARSE_LIMIT_US) * 1000


def quantile_rank(count: int, q: float) -> int:
    """0-based rank of the q-quantile among ``count`` sorted values, as numpy's ``method="lower"``."""
    return math.floor(q * (count - 1) + 1e-9)


def quantile_ns(counts: list[int] | array[int], q: float) -> int:
    """The upper edge of the bucket holding the q-quantile (lower rank, as numpy's ``method="lower"``)."""
    total = sum(counts)
    if not total:
        return 0
    rank = quantile_rank(total, q)
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen > rank:
            return upper_edge_ns(index)
    return upper_edge_ns(len(counts) - 1)


class LagHistogram:
    """Counts of start lags by bucket, plus the exact count, late count and maximum."""

    def __init__(self) -> None:
        self.counts = array("q", bytes(8 * BUCKETS))
        self.count = 0
        self.late = 0
        self.max_ns = 0

    def add(self, lag_ns: int) -> None:
        self.counts[bucket_of(lag_ns)] += 1
        self.count += 1
        if lag_ns > LATE_NS:
            self.late += 1
        if lag_ns > self.max_ns:  # noqa: PLR1730 -- per request: a compare is cheaper than a call to max()
            self.max_ns = lag_ns

    def summary(self) -> dict[str, float | int]:
        """The agent's ``done`` fields: late starts, max and p99 lag in ms."""
        return {"late_starts": self.late, "max_lag_ms": self.max_ns / 1e6,
                "p99_lag_ms": quantile_ns(self.counts, 0.99) / 1e6 if self.count else 0.0}
