"""Failures attributed to fault instances, and the two recovery clocks that come from requests.

* **Attribution**: a failed request belongs to the fault in force when it *failed*, at its completion
  (start + latency): the latest fault instant at or before that moment, never an earlier one. A request
  started 1 ms before a fault and reset by it belongs to that fault. Failures completing before the
  first fault instant belong to none ("before any fault": baseline noise).
* ``last_failure``: the *start* of the last failed request attributed to the fault (the moment the path
  was last seen failing), from the fault instant.
* ``traffic_recovered``: on every address that had a failure attributed to the fault, the start of the
  first successful request after the last such failure (the end of its unavailability window, see
  windows.py); the latest of them, from the fault instant. An address with no success after that
  failure before the run ended never recovered: the clock is ``never``.

Both clocks are at least 0: a failure that started just before the fault instant is at the instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chaoskit.analysis.frames import Columns
from chaoskit.analysis.windows import FailureRuns


@dataclass(frozen=True)
class FaultFailures:
    """The failed requests attributed to one fault instance."""

    failures: int
    last_failure_ns: int | None
    """Start of the last one; None without failures."""
    recovered_ns: int | None
    """Latest first-success start after the last failure, over the addresses that failed; None without
    failures or when an address never recovered."""
    failed_addresses: tuple[str, ...] = ()
    unrecovered_addresses: tuple[str, ...] = ()
    """Addresses that failed for this fault and had no successful request after, until the run ended."""


def attribute(cols: Columns, runs: FailureRuns, instants_ns: Sequence[int]) -> tuple[list[FaultFailures], int]:
    """Per fault instant (ascending), its failures and request clocks; and the failures before any fault."""
    start = runs.start_ns
    done = start + runs.latency_ns
    instants = np.asarray(instants_ns, dtype=np.int64)
    owner = np.searchsorted(instants, done, side="right") - 1
    mine = np.flatnonzero(owner >= 0)
    n_faults, n_addr = len(instants), len(cols.addresses)
    counts = np.bincount(owner[mine], minlength=n_faults)
    window_address = runs.address[runs.window]
    # Within an address failures are in start order: the largest index per (fault, address) is its last.
    flat = np.full(n_faults * n_addr, -1, dtype=np.int64)
    np.maximum.at(flat, owner[mine] * n_addr + window_address[mine], mine)
    last = flat.reshape(n_faults, n_addr)
    result = [_fault(cols, runs, start, int(counts[f]), last[f]) for f in range(n_faults)]
    return result, int(len(runs.rows) - len(mine))


def _fault(cols: Columns, runs: FailureRuns, start: np.ndarray, failures: int, last: np.ndarray) -> FaultFailures:
    failed = np.flatnonzero(last >= 0)
    if not len(failed):
        return FaultFailures(failures=failures, last_failure_ns=None, recovered_ns=None)
    idx = last[failed]
    windows = runs.window[idx]
    stuck = runs.open[windows]
    return FaultFailures(
        failures=failures,
        last_failure_ns=int(start[idx].max()),
        recovered_ns=None if stuck.any() else int(runs.end_ns[windows].max()),
        failed_addresses=tuple(cols.addresses[a] for a in failed.tolist()),
        unrecovered_addresses=tuple(cols.addresses[a] for a in failed[stuck].tolist()),
    )
