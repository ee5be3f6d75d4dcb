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

from chaoskit.analysis.frames import BoolArray, Columns, IntArray, seconds

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
    """The windows of every address (see the module docstring), as arrays."""
    parts: list[tuple[npt.NDArray[Any], ...]] = []
    windows = 0
    for a in range(len(cols.addresses)):
        part = _runs_of(cols, None if len(cols.addresses) == 1 else np.flatnonzero(cols.address_code == a),
                        run_end_ns)
        if part is None:
            continue
        rows, window, first, begin, end, is_open = part
        parts.append((rows, window + windows, first, np.full(len(first), a), begin, end, is_open))
        windows += len(first)
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return FailureRuns(empty, empty, empty, empty, empty, empty, np.empty(0, dtype=np.bool_))
    offsets = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
    return FailureRuns(
        rows=np.concatenate([p[0] for p in parts]),
        window=np.concatenate([p[1] for p in parts]),
        first=np.concatenate([p[2] + off for p, off in zip(parts, offsets, strict=True)]),
        address=np.concatenate([p[3] for p in parts]).astype(np.int64),
        begin_ns=np.concatenate([p[4] for p in parts]),
        end_ns=np.concatenate([p[5] for p in parts]),
        open=np.concatenate([p[6] for p in parts]),
    )


def _runs_of(cols: Columns, mine: IntArray | None, run_end_ns: int) -> tuple[npt.NDArray[Any], ...] | None:
    """``mine``: the address's request rows; None when it is the only address (every row: no index copies)."""
    if mine is None:
        order = np.argsort(cols.start_ns, kind="stable")
    else:
        order = mine[np.argsort(cols.start_ns[mine], kind="stable")]
    fail_pos = np.flatnonzero(~cols.ok[order])
    if len(fail_pos) == 0:
        return None
    # A success between two failures (in start order) closes the window of the first one.
    new_window = np.concatenate(([True], np.diff(fail_pos) > 1))
    first = np.flatnonzero(new_window)
    last_pos = np.append(fail_pos[first[1:] - 1], fail_pos[-1])
    closer = last_pos + 1  # the next request on the address: a success, since the run of failures is maximal
    is_open = closer >= len(order)
    begin = cols.start_ns[order[fail_pos[first]]]
    closing_start = cols.start_ns[order[np.minimum(closer, len(order) - 1)]]
    end = np.maximum(np.where(is_open, run_end_ns, closing_start), begin)
    return order[fail_pos], np.cumsum(new_window) - 1, first, begin, end, is_open


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
    rows = runs.rows[int(runs.first[w]) : stop]
    by_outcome = np.bincount(cols.outcome_code[rows], minlength=len(cols.outcomes))
    a = int(runs.address[w])
    return ErrorWindow(
        service_type=cols.types[int(cols.address_type[a])],
        address=cols.addresses[a],
        begin_ns=int(runs.begin_ns[w]),
        end_ns=int(runs.end_ns[w]),
        duration_s=seconds(int(runs.end_ns[w] - runs.begin_ns[w])),
        failed=len(rows),
        open=bool(runs.open[w]),
        outcomes={label: int(c) for label, c in zip(cols.outcomes, by_outcome, strict=True) if c},
    )
