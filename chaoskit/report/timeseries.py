"""Requests and events on a time grid for the charts: counts per bucket, percentiles per bucket, downsampled.

Downsampling never drops a request: a long run gets wider buckets (100 ms, 200 ms, 500 ms, 1 s, ...) so a chart
has at most :data:`MAX_BUCKETS` of them, and every request is counted in exactly one. A single failure stays
visible as a count of 1 in its bucket, however long the run. Percentiles are computed per bucket from the raw
values (nothing is averaged). Pure numpy; no clocks, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from chaoskit.analysis.frames import CHUNK_ROWS, row_chunks

MAX_BUCKETS: Final = 1200
"""Buckets per chart at most: enough to see a 100 ms outage in a 2-minute run, small enough to draw fast."""
NICE_WIDTHS_MS: Final = (100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
                         600_000, 1_800_000, 3_600_000)  # fmt: skip
_NS_PER_MS: Final = 1_000_000

SLAB_ROWS: Final = 1 << 17
"""Values sorted at once for per-bucket percentiles: buckets are taken a slab at a time, each slab holding at
most this many values (or one bucket, when a single bucket holds more). A slab costs about 60 bytes a value
while it is gathered and sorted (times, values, their concatenations, the sort): 1 << 17 keeps that near
8 MB, where 1 << 19 added ~20 MB to the peak of report.html at 1M requests and more (the same values, the same
time: bench_analysis_memory.py)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Select = Callable[[slice], tuple[IntArray, npt.NDArray[np.int64] | FloatArray]]
"""For one slice of the request rows: the times and values of the rows a chart takes from it."""


@dataclass(frozen=True)
class Grid:
    """Buckets of equal width from ``begin_ns``; times are shown as seconds since ``origin_ns``."""

    origin_ns: int
    begin_ns: int
    width_ns: int
    count: int

    @property
    def edges_s(self) -> FloatArray:
        """Bucket edges (count + 1 of them), seconds since the origin."""
        edges: FloatArray = (self.begin_ns - self.origin_ns + np.arange(self.count + 1) * self.width_ns) / 1e9
        return edges

    @property
    def centers_s(self) -> FloatArray:
        edges = self.edges_s
        centers: FloatArray = (edges[:-1] + edges[1:]) / 2
        return centers

    @property
    def width_label(self) -> str:
        ms = self.width_ns / _NS_PER_MS
        return f"{ms:g} ms" if ms < 1000 else f"{ms / 1000:g} s"

    def index(self, times_ns: IntArray) -> IntArray:
        """Bucket of each time (clipped into the grid)."""
        raw = np.asarray((times_ns - self.begin_ns) // self.width_ns).astype(np.int64, copy=False)
        clipped: IntArray = np.clip(raw, 0, self.count - 1, out=raw)  # in place: one array the input's length
        return clipped


def make_grid(begin_ns: int, end_ns: int, *, origin_ns: int, finest_ms: int, max_buckets: int = MAX_BUCKETS) -> Grid:
    """The finest nice bucket width, at least ``finest_ms``, that covers [begin, end) in at most ``max_buckets``."""
    span = max(end_ns - begin_ns, 1)
    width = next((w * _NS_PER_MS for w in NICE_WIDTHS_MS if w >= finest_ms and span / (w * _NS_PER_MS) <= max_buckets),
                 None)
    if width is None:
        width = math.ceil(span / max_buckets)
    return Grid(origin_ns=origin_ns, begin_ns=begin_ns, width_ns=width, count=max(1, math.ceil(span / width)))


def counts(grid: Grid, times_ns: IntArray, codes: npt.NDArray[np.integer[Any]], n_codes: int) -> IntArray:
    """Requests per (code, bucket): shape (n_codes, grid.count)."""
    if len(times_ns) == 0:
        return np.zeros((n_codes, grid.count), dtype=np.int64)
    flat = grid.index(times_ns)
    flat += codes.astype(np.int64, copy=False) * grid.count
    table: IntArray = np.bincount(flat, minlength=n_codes * grid.count).reshape(n_codes, grid.count)
    return table


def quantiles(grid: Grid, times_ns: IntArray, values: npt.NDArray[np.int64] | FloatArray,
              qs: Sequence[float]) -> FloatArray:
    """Per bucket, the ``qs`` quantiles (linear interpolation) of the values in it: shape (len(qs), count);
    NaN where a bucket is empty.

    One stable sort of the bucket numbers, then each bucket's values sorted alone: two index arrays the length of
    the input are the only temporaries (a sort of (bucket, value) pairs held four)."""
    out = np.full((len(qs), grid.count), np.nan)
    if len(times_ns) == 0:
        return out
    bucket = grid.index(times_ns)
    size = np.bincount(bucket, minlength=grid.count)
    order = np.argsort(bucket, kind="stable")
    del bucket
    first = np.cumsum(size) - size
    fractions = np.asarray(qs, dtype=np.float64)
    for b in np.flatnonzero(size).tolist():
        mine = np.sort(np.asarray(values[order[first[b]:first[b] + size[b]]], dtype=np.float64))
        position = fractions * (len(mine) - 1)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, len(mine) - 1)
        frac = position - low
        out[:, b] = mine[low] * (1 - frac) + mine[high] * frac
    return out


def counts_by_chunk(grid: Grid, rows: int, select: Callable[[slice], tuple[IntArray, npt.NDArray[np.integer[Any]]]],
                    n_codes: int, *, chunk_rows: int = CHUNK_ROWS) -> IntArray:
    """:func:`counts` over the rows ``select`` takes, a chunk of rows at a time (the same table)."""
    table = np.zeros((n_codes, grid.count), dtype=np.int64)
    for chunk in row_chunks(rows, chunk_rows):
        times, codes = select(chunk)
        table += counts(grid, times, codes, n_codes)
    return table


def quantiles_by_slab(grid: Grid, rows: int, select: Select, qs: Sequence[float], *,
                      slab_rows: int = SLAB_ROWS, chunk_rows: int = CHUNK_ROWS) -> FloatArray:
    """:func:`quantiles` (the same exact values) without holding every value at once: one pass counts the
    values per bucket, then consecutive buckets are taken a slab at a time (at most ``slab_rows`` values, or
    one bucket), each slab's values gathered chunk by chunk and sorted per bucket."""
    size = np.zeros(grid.count, dtype=np.int64)
    spans: list[tuple[slice, int, int]] = []  # each chunk with values: its first and last bucket
    for chunk in row_chunks(rows, chunk_rows):
        bucket = grid.index(select(chunk)[0])
        if len(bucket):
            size += np.bincount(bucket, minlength=grid.count)
            spans.append((chunk, int(bucket.min()), int(bucket.max())))
    out = np.full((len(qs), grid.count), np.nan)
    for first, stop in _slabs(size, slab_rows):
        begin_ns = grid.begin_ns + first * grid.width_ns
        times, values = [], []
        for chunk in (c for c, low, high in spans if high >= first and low < stop):  # records come in time order
            t, v = select(chunk)
            bucket = grid.index(t)
            inside = (bucket >= first) & (bucket < stop)
            times.append(t[inside])
            values.append(v[inside])
        # The slab's own index() clips as the whole grid's does: a time before the grid lands in the first
        # bucket, one after it in the last, so every value is in the same bucket as on the whole grid.
        slab = Grid(grid.origin_ns, begin_ns, grid.width_ns, stop - first)
        merged: FloatArray = np.concatenate(values).astype(np.float64, copy=False)
        out[:, first:stop] = quantiles(slab, np.concatenate(times), merged, qs)
    return out


def _slabs(size: IntArray, slab_rows: int) -> Iterator[tuple[int, int]]:
    """Consecutive bucket ranges [first, stop) of at most ``slab_rows`` values each (or a single bucket)."""
    first, held = 0, 0
    for b, n in enumerate(size.tolist()):
        if held and held + n > slab_rows:
            yield first, b
            first, held = b, 0
        held += n
    if held:
        yield first, len(size)
