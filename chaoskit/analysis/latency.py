"""Latency percentiles per service type and phase, from the raw records of successful requests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from chaoskit.analysis.availability import ALL_PHASES
from chaoskit.analysis.frames import OUTSIDE, Columns, millis

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
    """Latencies of ok requests sorted by (type, phase) cell: every cell is one contiguous slice."""

    def __init__(self, cols: Columns) -> None:
        self.n_phases = len(cols.phases)
        cell = cols.type_code * self.n_phases + cols.phase_code
        n_cells = len(cols.types) * self.n_phases
        ok_cell = cell[cols.ok]
        # A small integer key lets numpy use its O(n) radix sort instead of a comparison sort.
        key = ok_cell.astype(np.uint16 if n_cells < 2**16 else np.int64)
        self.values = cols.latency_ns[cols.ok][np.argsort(key, kind="stable")]
        counts = np.bincount(ok_cell, minlength=n_cells)
        self.bounds = np.concatenate(([0], np.cumsum(counts)))
        self.failed = np.bincount(cell[~cols.ok], minlength=n_cells)

    def cells(self, t: int, phases: Iterable[int]) -> npt.NDArray[np.int64]:
        parts = [self.values[self.bounds[c] : self.bounds[c + 1]] for c in self._ids(t, phases)]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def failures(self, t: int, phases: Iterable[int]) -> int:
        return int(sum(self.failed[c] for c in self._ids(t, phases)))

    def _ids(self, t: int, phases: Iterable[int]) -> list[int]:
        return [t * self.n_phases + p for p in phases]


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
        values = grouped.cells(t, wanted)
        result[service_type] = millis(np.percentile(values, 99.0)) if len(values) else None
    return result


def _row(grouped: LatencyIndex, t: int, phases: Iterable[int], service_type: str, phase: str) -> LatencyRow:
    phases = list(phases)
    values = grouped.cells(t, phases)
    failed = grouped.failures(t, phases)
    if not len(values):
        return LatencyRow(service_type, phase, 0, failed, None, None, None, None)
    p50, p95, p99 = np.percentile(values, PERCENTILES)
    return LatencyRow(
        service_type=service_type,
        phase=phase,
        ok=len(values),
        failed=failed,
        p50_ms=millis(p50),
        p95_ms=millis(p95),
        p99_ms=millis(p99),
        max_ms=millis(values.max()),
    )
