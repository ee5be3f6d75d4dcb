"""Availability per service type and phase: requests, ok, failed, ratio and failures by outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from chaoskit.analysis.frames import OUTSIDE, Columns, count_codes, ratio, row_chunks, type_phase_cells

ALL_PHASES: Final = "all"
"""Phase label of the whole-run row of a service type."""


@dataclass(frozen=True)
class AvailabilityRow:
    """Requests of one service type in one phase (``all``: the whole run), by scheduled start."""

    service_type: str
    phase: str
    requests: int
    ok: int
    failed: int
    ratio: float | None
    """ok / requests; None when there were no requests."""
    failures_by_outcome: dict[str, int] = field(default_factory=dict)


def availability(cols: Columns) -> tuple[AvailabilityRow, ...]:
    """One row per (service type, phase) in phase order, then the type's ``all`` row.

    The ``outside`` phase is listed only when some request was scheduled outside every phase.
    """
    n_types, n_phases, n_outcomes = len(cols.types), len(cols.phases), len(cols.outcomes)
    size = n_types * n_phases
    counted = np.zeros(size, dtype=np.int64)
    failures = np.zeros(size * n_outcomes, dtype=np.int64)
    for chunk in row_chunks(len(cols)):  # a chunk's int32 cells at a time, not four bytes a request
        counted += count_codes(type_phase_cells(cols, chunk), size)
        failed = ~cols.ok[chunk]
        failed_cell = type_phase_cells(cols, chunk)[failed]
        failed_cell *= n_outcomes
        failed_cell += cols.outcome_code[chunk][failed]
        failures += np.bincount(failed_cell, minlength=size * n_outcomes)
    total = counted.reshape(n_types, n_phases)
    by_outcome = failures.reshape(n_types, n_phases, n_outcomes)
    good = total - by_outcome.sum(axis=2)
    rows: list[AvailabilityRow] = []
    for t, service_type in enumerate(cols.types):
        for p, phase in enumerate(cols.phases):
            if phase == OUTSIDE and total[t, p] == 0:
                continue
            rows.append(
                _row(
                    service_type,
                    phase,
                    total=total[t, p],
                    good=good[t, p],
                    outcomes=by_outcome[t, p],
                    labels=cols.outcomes,
                )
            )
        rows.append(
            _row(
                service_type,
                ALL_PHASES,
                total=total[t].sum(),
                good=good[t].sum(),
                outcomes=by_outcome[t].sum(0),
                labels=cols.outcomes,
            )
        )
    return tuple(rows)


def _row(
    service_type: str,
    phase: str,
    *,
    total: np.integer,
    good: np.integer,
    outcomes: npt.NDArray[np.int64],
    labels: tuple[str, ...],
) -> AvailabilityRow:
    requests, ok = int(total), int(good)
    return AvailabilityRow(
        service_type=service_type,
        phase=phase,
        requests=requests,
        ok=ok,
        failed=requests - ok,
        ratio=ratio(ok, requests),
        failures_by_outcome={label: int(count) for label, count in zip(labels, outcomes, strict=True) if count},
    )
