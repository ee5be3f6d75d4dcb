"""Latency percentiles per service type and phase, from the raw records of successful requests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np

from chaoskit.analysis.availability import ALL_PHASES
from chaoskit.analysis.frames import (
    OUTSIDE,
    BoolArray,
    Columns,
    IntArray,
    count_codes,
    millis,
    row_chunks,
    type_phase_cells,
)
from chaoskit.analysis.quantiles import Take, percentiles, spread

PERCENTILES: Final = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class LatencyRow:
    """Latency of the successful requests of one service type in one phase (milliseconds)."""

    service_type: str
    phase: str
    ok: int
    failed: int
    """Failed requests in the same cell: their latencies are not in the percentiles."""
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class LatencyIndex:
    """Takes the ok latencies of one service type over some phases, a chunk of rows at a time, and counts each
    (type, phase) cell's failures.

    A chunk's boolean mask is built from the one-byte codes by comparisons: no per-request key or index array
    is held, and the percentiles are taken in passes (quantiles.py), so nothing here grows with the run.
    """

    def __init__(self, cols: Columns) -> None:
        self.rows = len(cols)
        self.n_phases = len(cols.phases)
        self.type_code = cols.type_code
        self.phase_code = cols.phase_code
        self.ok = cols.ok
        self.latency_ns = cols.latency_ns
        cells = len(cols.types) * self.n_phases
        self.failed = np.zeros(cells, dtype=np.int64)
        for chunk in row_chunks(len(cols)):
            self.failed += count_codes(type_phase_cells(cols, chunk)[~cols.ok[chunk]], cells)

    def cells(self, t: int, phases: Iterable[int]) -> Take:
        """The ok latencies of type ``t`` in ``phases``, for any slice of rows."""
        wanted = sorted(set(phases))
        every = len(wanted) >= self.n_phases  # the type's ``all`` row: no phase mask needed

        def take(rows: slice) -> IntArray:
            if not wanted:
                return np.empty(0, dtype=np.int64)
            chosen: BoolArray = self.type_code[rows] == t
            chosen &= self.ok[rows]
            if not every:
                chosen &= self._in_phases(wanted, rows)
            values: IntArray = self.latency_ns[rows][chosen]
            return values

        return take

    def failures(self, t: int, phases: Iterable[int]) -> int:
        return int(sum(self.failed[t * self.n_phases + p] for p in phases))

    def _in_phases(self, wanted: list[int], rows: slice) -> BoolArray:
        codes = self.phase_code[rows]
        mask: BoolArray = codes == wanted[0]
        for p in wanted[1:]:
            mask |= codes == p
        return mask


def latency(cols: Columns, *, index: LatencyIndex | None = None) -> tuple[LatencyRow, ...]:
    """Rows per (service type, phase) in phase order, then the type's ``all`` row."""
    grouped = index or LatencyIndex(cols)
    rows: list[LatencyRow] = []
    for t, service_type in enumerate(cols.types):
        for p, phase in enumerate(cols.phases):
            row = _row(grouped, t, [p], service_type, phase)
            if phase != OUTSIDE or row.ok or row.failed:
                rows.append(row)
        rows.append(_row(grouped, t, range(len(cols.phases)), service_type, ALL_PHASES))
    return tuple(rows)


def p99_over(cols: Columns, phases: Iterable[str], *, index: LatencyIndex | None = None) -> dict[str, float | None]:
    """p99 (ms) of ok requests per service type over the given phases together, from raw values."""
    names = set(phases)
    wanted = [i for i, name in enumerate(cols.phases) if name in names]
    grouped = index or LatencyIndex(cols)
    result: dict[str, float | None] = {}
    for t, service_type in enumerate(cols.types):
        p99 = percentiles(grouped.cells(t, wanted), grouped.rows, (99.0,))
        result[service_type] = None if p99 is None else millis(p99[0])
    return result


def _row(grouped: LatencyIndex, t: int, phases: Iterable[int], service_type: str, phase: str) -> LatencyRow:
    phases = list(phases)
    take = grouped.cells(t, phases)
    failed = grouped.failures(t, phases)
    seen = spread(take, grouped.rows)
    found = percentiles(take, grouped.rows, PERCENTILES, seen=seen)
    if found is None or seen.high is None:
        return LatencyRow(service_type, phase, 0, failed, None, None, None, None)
    p50, p95, p99 = found
    return LatencyRow(
        service_type=service_type,
        phase=phase,
        ok=seen.count,
        failed=failed,
        p50_ms=millis(p50),
        p95_ms=millis(p95),
        p99_ms=millis(p99),
        max_ms=millis(seen.high),
    )
