"""Error windows: stretches of time in which requests of one service type failed.

Rule (exact): take the service type's requests in start order. A *run* is a maximal sequence of
failed requests with no successful request between them. Consecutive runs join into one *window*
when the next run's first failure starts no more than ``gap_tolerance_s`` after the latest end
(start + latency) of the failures before it. A window begins at its first failure's start and ends
at the latest end of its failures. Two failures with no success between them are always in the same
window, however far apart: without a success there is no evidence the service came back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

from chaoskit.analysis.frames import NS_PER_S, BoolArray, Columns, IntArray, seconds

TOP_WINDOWS: Final = 10
"""How many of the longest windows a summary keeps per service type."""


@dataclass(frozen=True)
class ErrorWindow:
    """One window of failures of one service type."""

    service_type: str
    begin_ns: int
    """Start of the first failed request."""
    end_ns: int
    """Latest start + latency of the window's failed requests."""
    duration_s: float
    failed: int
    ok_inside: int
    """Successful requests started inside the window (partial outage, e.g. 1 of 3 backends gone)."""
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowStats:
    """Error windows of one service type."""

    service_type: str
    count: int
    failed: int
    """Failed requests inside all windows (= all failed requests of the type)."""
    total_s: float
    longest: ErrorWindow | None
    top: tuple[ErrorWindow, ...] = ()
    """The longest windows, longest first (at most :data:`TOP_WINDOWS`)."""


def error_windows(cols: Columns, *, gap_tolerance_s: float = 0.1) -> tuple[ErrorWindow, ...]:
    """Every error window of every service type, ordered by type then begin."""
    if gap_tolerance_s < 0:
        raise ValueError(f"gap_tolerance_s must be >= 0, got {gap_tolerance_s}")
    tolerance_ns = round(gap_tolerance_s * NS_PER_S)
    windows: list[ErrorWindow] = []
    for t, service_type in enumerate(cols.types):
        mine = np.flatnonzero(cols.type_code == t)
        order = mine[np.argsort(cols.start_ns[mine], kind="stable")]
        windows.extend(_windows_of(cols, order, service_type, tolerance_ns))
    return tuple(windows)


def _windows_of(cols: Columns, order: IntArray, service_type: str, tolerance_ns: int) -> list[ErrorWindow]:
    ok: BoolArray = cols.ok[order]
    fail_pos = np.flatnonzero(~ok)
    if len(fail_pos) == 0:
        return []
    rows = order[fail_pos]
    start = cols.start_ns[rows]
    end = start + cols.latency_ns[rows]
    # Latest end among all earlier failures: an earlier window can never outlast a later one's start
    # (it would have merged), so this equals the open window's end.
    prev_end = np.maximum.accumulate(end)[:-1]
    ok_between = np.diff(fail_pos) > 1
    new_window = np.concatenate(([True], ok_between & (start[1:] - prev_end > tolerance_ns)))
    first = np.flatnonzero(new_window)
    window_id = np.cumsum(new_window) - 1
    begin_ns = start[first]
    end_ns = np.maximum.reduceat(end, first)
    failed = np.diff(np.append(first, len(rows)))
    # Requests between a window's first and last failure that did not fail are the ok ones inside.
    last_pos = np.append(fail_pos[first[1:] - 1], fail_pos[-1])
    ok_inside = (last_pos - fail_pos[first] + 1) - failed
    n_out = len(cols.outcomes)
    by_outcome = np.bincount(window_id * n_out + cols.outcome_code[rows], minlength=len(first) * n_out).reshape(
        len(first), n_out
    )
    return [
        ErrorWindow(
            service_type=service_type,
            begin_ns=int(begin_ns[i]),
            end_ns=int(end_ns[i]),
            duration_s=seconds(int(end_ns[i] - begin_ns[i])),
            failed=int(failed[i]),
            ok_inside=int(ok_inside[i]),
            outcomes={label: int(c) for label, c in zip(cols.outcomes, by_outcome[i], strict=True) if c},
        )
        for i in range(len(first))
    ]


def window_stats(
    windows: tuple[ErrorWindow, ...], types: tuple[str, ...], *, top: int = TOP_WINDOWS
) -> tuple[WindowStats, ...]:
    """Per service type: how many windows, their total length, the longest ones."""
    stats = []
    for service_type in types:
        mine = [w for w in windows if w.service_type == service_type]
        ranked = sorted(mine, key=lambda w: (-w.duration_s, w.begin_ns))
        stats.append(
            WindowStats(
                service_type=service_type,
                count=len(mine),
                failed=sum(w.failed for w in mine),
                total_s=round(sum(w.duration_s for w in mine), 6),
                longest=ranked[0] if ranked else None,
                top=tuple(ranked[:top]),
            )
        )
    return tuple(stats)
