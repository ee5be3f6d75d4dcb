"""Unavailability windows: per address (a path users take), the stretches of time it was seen failing.

Definition (exact). Take one address's requests in start order. A *window* begins at the start of a
failed request whose predecessor on the address succeeded (or that is the address's first request),
and ends at the start of the next successful request on the same address. Every failed request lies
in exactly one window, and no successful request starts inside one. A timeout counts from its start:
waiting out a 2 s timeout does not lengthen a window past the next success's start. A window with no
success after it is *open* (never closed): it ends at the end of the run (:func:`frames.run_end_ns`)
and is flagged.

An address is one (service type, ``target``) pair: the Service's ``host:port``, one per node for a
NodePort. Runs saved without the ``target`` column have one address per service type, the type itself.

Per service type, the windows of its addresses are listed together; ``unavailable_s`` is the union of
their time: how long at least one address of the type was unavailable (two node addresses down over the
same second count one second). Per address, ``total_s`` is the sum of its windows (they never overlap).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from chaoskit.analysis.frames import BoolArray, Columns, IntArray, row_chunks, seconds

TOP_WINDOWS: Final = 10
"""How many of the longest windows a summary keeps per service type."""


@dataclass(frozen=True)
class ErrorWindow:
    """One unavailability window of one address."""

    service_type: str
    address: str
    begin_ns: int
    """Start of the window's first failed request."""
    end_ns: int
    """Start of the next successful request on the address; the end of the run when open."""
    duration_s: float
    failed: int
    open: bool = False
    """No request on this address succeeded after the window began, until the end of the run."""
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AddressWindows:
    """The windows of one address, summed."""

    service_type: str
    address: str
    count: int
    failed: int
    total_s: float
    """Sum of the address's window lengths."""
    longest_s: float
    open: bool
    """The address's last window was still open at the end of the run."""


@dataclass(frozen=True)
class WindowStats:
    """The unavailability windows of one service type, over all of its addresses."""

    service_type: str
    count: int
    failed: int
    """Failed requests inside all windows (= all failed requests of the type)."""
    unavailable_s: float
    """Union of the windows of the type's addresses: time during which at least one was unavailable."""
    open: int
    """Windows still open at the end of the run."""
    longest: ErrorWindow | None
    top: tuple[ErrorWindow, ...] = ()
    """The longest windows of any of the type's addresses, longest first (at most :data:`TOP_WINDOWS`)."""
    addresses: tuple[AddressWindows, ...] = ()


@dataclass(frozen=True)
class FailureRuns:
    """Every failed request, grouped into windows: what the windows and the recovery clocks share.

    Failures are ordered by address, then start; each window's failures are contiguous.
    """

    rows: IntArray
    """Request row of each failure."""
    start_ns: IntArray
    """Start of each failure."""
    latency_ns: IntArray
    """Latency of each failure (start + latency: when it completed)."""
    outcome_code: IntArray
    """Outcome code of each failure (``Columns.outcomes``)."""
    window: IntArray
    """Window index of each failure."""
    first: IntArray
    """Per window: index into ``rows`` of its first failure."""
    address: IntArray
    """Per window: its address code."""
    begin_ns: IntArray
    end_ns: IntArray
    open: BoolArray

    def __len__(self) -> int:
        return len(self.first)

    def failed(self) -> IntArray:
        """Failed requests per window."""
        return np.diff(np.append(self.first, len(self.rows)))


def failure_runs(cols: Columns, run_end_ns: int) -> FailureRuns:
    """The windows of every address (see the module docstring), as arrays.

    Only the failures are held and sorted; the successes are visited a chunk of rows at a time, each one only
    marking the gap between two failures of its address that it starts in (and the earliest start there).
    Nothing full-length is sorted or indexed, so this is the pass an analysis reading requests.parquet in row
    groups makes too."""
    rows, address, start, latency, outcome = _failures(cols)
    if not len(rows):
        return FailureRuns(rows=_EMPTY, start_ns=_EMPTY, latency_ns=_EMPTY, outcome_code=_EMPTY, window=_EMPTY,
                           first=_EMPTY, address=_EMPTY, begin_ns=_EMPTY, end_ns=_EMPTY,
                           open=np.empty(0, dtype=np.bool_))
    order = np.lexsort((start, address))  # stable: ties in start keep the row order, as a stable sort of all
    rows, address, start, latency, outcome = (a[order] for a in (rows, address, start, latency, outcome))
    segments = np.flatnonzero(np.diff(address, prepend=-1, append=-1))
    parts = [_address_runs(cols, int(address[s]), rows[s:e], start[s:e], run_end_ns)
             for s, e in zip(segments[:-1].tolist(), segments[1:].tolist(), strict=True)]
    window, first, begin, end, is_open = (np.concatenate([p[i] for p in parts]) for i in range(5))
    counts = np.cumsum([0] + [int(p[0][-1]) + 1 for p in parts[:-1]])
    window_offsets = np.repeat(counts, [len(p[0]) for p in parts])
    first_offsets = np.repeat(segments[:-1], [len(p[1]) for p in parts])
    return FailureRuns(
        rows=rows,
        start_ns=start,
        latency_ns=latency,
        outcome_code=outcome,
        window=(window + window_offsets).astype(np.int64),
        first=(first + first_offsets).astype(np.int64),
        address=address[first + first_offsets].astype(np.int64),
        begin_ns=begin.astype(np.int64),
        end_ns=end.astype(np.int64),
        open=is_open.astype(np.bool_),
    )


_EMPTY: Final = np.empty(0, dtype=np.int64)


def _failures(cols: Columns) -> tuple[IntArray, ...]:
    """Every failed request's row, address code, start, latency and outcome code, in row order."""
    found: list[tuple[IntArray, ...]] = []
    for chunk in row_chunks(len(cols)):
        failed = ~cols.ok[chunk]
        if failed.any():
            found.append((np.flatnonzero(failed) + chunk.start, *(
                column[chunk][failed].astype(np.int64)
                for column in (cols.address_code, cols.start_ns, cols.latency_ns, cols.outcome_code))))
    return tuple(np.concatenate([f[i] for f in found]) if found else _EMPTY for i in range(5))


def _address_runs(
    cols: Columns, a: int, rows: IntArray, start: IntArray, run_end_ns: int
) -> tuple[npt.NDArray[Any], ...]:
    """One address's windows from its failures (in start order, ties in row order) and its successes.

    Gap ``i`` lies between failure ``i - 1`` and failure ``i``; gap ``len(rows)`` after the last one. A success
    in gap ``i`` (``i > 0``) starts a new window at failure ``i`` and closes the one before at its start."""
    earliest = np.full(len(rows) + 1, _NEVER, dtype=np.int64)
    only = len(cols.addresses) == 1
    for chunk in row_chunks(len(cols)):
        mine = cols.ok[chunk] if only else cols.ok[chunk] & (cols.address_code[chunk] == a)
        begins = cols.start_ns[chunk][mine]
        np.minimum.at(earliest, _gaps(start, rows, begins, mine, chunk.start), begins)
    had_success = earliest < _NEVER
    new_window = had_success[:-1].copy()
    new_window[0] = True
    first = np.flatnonzero(new_window)
    after = np.append(first[1:], len(rows))  # the gap after each window's last failure
    is_open = ~had_success[after]
    begin = start[first]
    end = np.maximum(np.where(is_open, run_end_ns, earliest[after]), begin)
    return np.cumsum(new_window) - 1, first, begin, end, is_open


_NEVER: Final = np.iinfo(np.int64).max


def _gaps(fail_start: IntArray, fail_rows: IntArray, begins: IntArray, mine: BoolArray, offset: int) -> IntArray:
    """For each success (``mine`` in a chunk of rows from ``offset``), how many of the address's failures come
    before it in (start, row) order."""
    gap = np.searchsorted(fail_start, begins, side="left")
    ties = np.flatnonzero(np.searchsorted(fail_start, begins, side="right") > gap)
    if len(ties):  # same start to the nanosecond: the row order decides, as in a stable sort
        success_rows = np.flatnonzero(mine) + offset
        for j in ties.tolist():
            tied = slice(int(gap[j]), int(np.searchsorted(fail_start, begins[j], side="right")))
            gap[j] += int(np.searchsorted(fail_rows[tied], success_rows[j]))
    return gap


def window_stats(cols: Columns, runs: FailureRuns, *, top: int = TOP_WINDOWS) -> tuple[WindowStats, ...]:
    """Per service type: its addresses' windows counted, their union, the longest ones."""
    n_addr = len(cols.addresses)
    duration = runs.end_ns - runs.begin_ns
    failed = runs.failed()
    count = np.bincount(runs.address, minlength=n_addr)
    total = np.bincount(runs.address, weights=duration, minlength=n_addr)
    fails = np.bincount(runs.address, weights=failed, minlength=n_addr).astype(np.int64)
    longest = np.zeros(n_addr, dtype=np.int64)
    np.maximum.at(longest, runs.address, duration)
    still_open = np.bincount(runs.address, weights=runs.open, minlength=n_addr) > 0
    window_type = cols.address_type[runs.address]
    stats = []
    for t, service_type in enumerate(cols.types):
        mine = np.flatnonzero(window_type == t)
        ranked = mine[np.argsort(-duration[mine], kind="stable")[:top]]
        listed = tuple(_window(cols, runs, int(w)) for w in ranked)
        per_address = tuple(
            AddressWindows(service_type, cols.addresses[a], int(count[a]), int(fails[a]),
                           seconds(total[a]), seconds(longest[a]), bool(still_open[a]))
            for a in np.flatnonzero(cols.address_type == t).tolist()
        )  # fmt: skip
        stats.append(
            WindowStats(
                service_type=service_type,
                count=len(mine),
                failed=int(failed[mine].sum()),
                unavailable_s=seconds(_union_ns(runs.begin_ns[mine], runs.end_ns[mine])),
                open=int(runs.open[mine].sum()),
                longest=listed[0] if listed else None,
                top=listed,
                addresses=per_address,
            )
        )
    return tuple(stats)


def _union_ns(begin: IntArray, end: IntArray) -> int:
    """Length of the union of the intervals [begin, end)."""
    if len(begin) == 0:
        return 0
    order = np.argsort(begin, kind="stable")
    b, e = begin[order], end[order]
    reach = np.concatenate(([b[0]], np.maximum.accumulate(e)[:-1]))  # furthest end of all earlier ones
    return int(np.maximum(e - np.maximum(b, reach), 0).sum())


def _window(cols: Columns, runs: FailureRuns, w: int) -> ErrorWindow:
    stop = int(runs.first[w + 1]) if w + 1 < len(runs) else len(runs.rows)
    rows = slice(int(runs.first[w]), stop)
    by_outcome = np.bincount(runs.outcome_code[rows], minlength=len(cols.outcomes))
    a = int(runs.address[w])
    return ErrorWindow(
        service_type=cols.types[int(cols.address_type[a])],
        address=cols.addresses[a],
        begin_ns=int(runs.begin_ns[w]),
        end_ns=int(runs.end_ns[w]),
        duration_s=seconds(int(runs.end_ns[w] - runs.begin_ns[w])),
        failed=stop - int(runs.first[w]),
        open=bool(runs.open[w]),
        outcomes={label: int(c) for label, c in zip(cols.outcomes, by_outcome, strict=True) if c},
    )
