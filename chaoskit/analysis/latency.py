"""Latency percentiles per service type and phase, from the raw records of successful requests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from chaoskit.analysis.availability import ALL_PHASES
from chaoskit.analysis.frames import OUTSIDE, BoolArray, Columns, count_codes, millis, type_phase_cells

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
    """Pulls the ok latencies of one service type over some phases at once, and counts each (type, phase)
    cell's failures.

    One boolean mask per call, built from the one-byte codes by comparisons (a byte a request each): no
    per-request key is held, and no index array is made (numpy widens index arrays to int64).
    """

    def __init__(self, cols: Columns) -> None:
        self.n_phases = len(cols.phases)
        self.type_code = cols.type_code
        self.phase_code = cols.phase_code
        self.ok = cols.ok
        self.latency_ns = cols.latency_ns
        self.failed = count_codes(type_phase_cells(cols, ~cols.ok), len(cols.types) * self.n_phases)

    def cells(self, t: int, phases: Iterable[int]) -> npt.NDArray[np.int64]:
        """The ok latencies of type ``t`` in ``phases``: a new array, the caller's to reorder."""
        wanted = sorted(set(phases))
        if not wanted:
            return np.empty(0, dtype=np.int64)
        chosen: BoolArray = self.type_code == t
        chosen &= self.ok
        if len(wanted) < self.n_phases:  # every phase (the type's ``all`` row): no phase mask needed
            chosen &= self._in_phases(wanted)
        values: npt.NDArray[np.int64] = self.latency_ns[chosen]
        return values

    def failures(self, t: int, phases: Iterable[int]) -> int:
        return int(sum(self.failed[t * self.n_phases + p] for p in phases))

    def _in_phases(self, wanted: list[int]) -> BoolArray:
        mask: BoolArray = self.phase_code == wanted[0]
        for p in wanted[1:]:
            mask |= self.phase_code == p
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
        values = grouped.cells(t, wanted)
        # ``values`` is this call's own copy: the percentile may reorder it instead of copying it again.
        result[service_type] = millis(np.percentile(values, 99.0, overwrite_input=True)) if len(values) else None
    return result


def _row(grouped: LatencyIndex, t: int, phases: Iterable[int], service_type: str, phase: str) -> LatencyRow:
    phases = list(phases)
    values = grouped.cells(t, phases)
    failed = grouped.failures(t, phases)
    if not len(values):
        return LatencyRow(service_type, phase, 0, failed, None, None, None, None)
    most = values.max()
    p50, p95, p99 = np.percentile(values, PERCENTILES, overwrite_input=True)  # our own copy: reordered in place
    return LatencyRow(
        service_type=service_type,
        phase=phase,
        ok=len(values),
        failed=failed,
        p50_ms=millis(p50),
        p95_ms=millis(p95),
        p99_ms=millis(p99),
        max_ms=millis(most),
    )
