"""Exact percentiles of values taken a chunk of rows at a time: no full-length copy of the values.

``np.percentile`` needs every value in one array it may reorder: a copy of 8 bytes a request. Here the
values come from ``take(rows)`` for consecutive row slices (:func:`frames.row_chunks`) and are read in passes:

1. how many there are, the smallest and the largest;
2. a histogram of :data:`BUCKETS` equal buckets over that range, which names the bucket holding each wanted
   rank;
3. the values of such a bucket, once at most :data:`HELD` are in it, kept and sorted; a bucket holding more is
   split again by a histogram of its own range, until its values fit or are all equal.

At most a chunk of values, one histogram and :data:`HELD` values are held at once, whatever the count. This
is the form an analysis that reads requests.parquet in passes needs too (docs/architecture.md). The result is
``np.percentile``'s (method ``linear``) to the bit: the tests compare them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from chaoskit.analysis.frames import IntArray, row_chunks

Take = Callable[[slice], IntArray]
"""The values of some rows (those a mask selects among them, say): int64, any order, any count."""

BUCKETS: Final = 1 << 16
HELD: Final = 1 << 17
"""Values sorted at once when a bucket is small enough (1 MiB of int64)."""


@dataclass(frozen=True)
class Spread:
    """How many values ``take`` gives over all rows, and their extremes (None when there are none)."""

    count: int
    low: int | None
    high: int | None


def spread(take: Take, rows: int) -> Spread:
    count, low, high = 0, None, None
    for values in _passes(take, rows):
        count += len(values)
        low = int(values.min()) if low is None else min(low, int(values.min()))
        high = int(values.max()) if high is None else max(high, int(values.max()))
    return Spread(count, low, high)


def percentiles(take: Take, rows: int, qs: Sequence[float], *, seen: Spread | None = None) -> list[float] | None:
    """``np.percentile(values, qs)`` (method linear) of every value ``take`` gives; None when there is none."""
    seen = seen or spread(take, rows)
    if seen.low is None or seen.high is None:
        return None
    n = seen.count
    virtual = [(n - 1) * (q / 100) for q in qs]  # numpy: (n - 1) * true_divide(q, 100), in float64 as here
    below = [min(int(np.floor(v)), n - 1) for v in virtual]
    ranks = sorted({*below, *(min(b + 1, n - 1) for b in below)})
    value = order_statistics(take, rows, ranks, seen=seen)
    return [_lerp(value, v, b, n) for v, b in zip(virtual, below, strict=True)]


def order_statistics(take: Take, rows: int, ranks: Sequence[int], *, seen: Spread | None = None) -> dict[int, int]:
    """The value at each 0-based rank of the values ``take`` gives, in sorted order."""
    seen = seen or spread(take, rows)
    if seen.low is None or seen.high is None:
        raise ValueError("no values to rank")
    if any(not 0 <= r < seen.count for r in ranks):
        raise ValueError(f"ranks {list(ranks)} outside 0..{seen.count - 1}")
    return _resolve(take, rows, seen.low, seen.high, seen.count, sorted(set(ranks)))


def _lerp(value: dict[int, int], virtual: float, below: int, n: int) -> float:
    """numpy's ``_lerp`` for one quantile: the same operations in the same order, so the same float."""
    if virtual >= n - 1:
        return float(value[n - 1])
    a, b = value[below], value[below + 1]
    gamma = virtual - below
    diff = b - a
    return float(b) - float(diff) * (1 - gamma) if gamma >= 0.5 else float(a) + float(diff) * gamma


def _resolve(take: Take, rows: int, low: int, high: int, count: int, ranks: list[int]) -> dict[int, int]:
    """Ranks (counted from ``low``) among the ``count`` values in [low, high]."""
    if low == high:
        return dict.fromkeys(ranks, low)
    if count <= HELD:
        kept = np.sort(np.concatenate([_within(v, low, high) for v in _passes(take, rows)]))
        return {r: int(kept[r]) for r in ranks}
    width = -(-(high - low + 1) // BUCKETS)
    counts = np.zeros(BUCKETS, dtype=np.int64)
    for values in _passes(take, rows):
        counts += np.bincount((_within(values, low, high) - low) // width, minlength=BUCKETS)
    ends = np.cumsum(counts)
    found: dict[int, int] = {}
    for bucket, wanted in _by_bucket(ends, ranks):
        before = int(ends[bucket - 1]) if bucket else 0
        start = low + bucket * width
        inner = _resolve(take, rows, start, min(high, start + width - 1), int(counts[bucket]),
                         [r - before for r in wanted])
        found.update({r: inner[r - before] for r in wanted})
    return found


def _by_bucket(ends: IntArray, ranks: list[int]) -> Iterator[tuple[int, list[int]]]:
    buckets = np.searchsorted(ends, ranks, side="right").tolist()
    for bucket in sorted(set(buckets)):
        yield bucket, [r for r, b in zip(ranks, buckets, strict=True) if b == bucket]


def _within(values: IntArray, low: int, high: int) -> IntArray:
    kept: IntArray = values[(values >= low) & (values <= high)]
    return kept


def _passes(take: Take, rows: int) -> Iterator[IntArray]:
    for chunk in row_chunks(rows):
        values = take(chunk)
        if len(values):
            yield values
