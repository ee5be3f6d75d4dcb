"""Availability per address: one Service type is often loaded through several addresses (a NodePort on
every node); when they fare differently, the report must say which node's path failed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chaoskit.analysis.frames import NS_PER_S, Columns, ratio, row_chunks


@dataclass(frozen=True)
class TargetRow:
    """The whole run's requests to one address of one service type."""

    service_type: str
    target: str
    requests: int
    failed: int
    ratio: float | None
    failures_by_outcome: dict[str, int] = field(default_factory=dict)
    first_failure_s: float | None = None
    """Scheduled start of the first failed request, seconds after the run's first request."""
    last_failure_s: float | None = None


def by_target(cols: Columns) -> tuple[TargetRow, ...]:
    """One row per (service type, address), only when some service type was loaded at several
    addresses (otherwise the availability table already says it all). Counted a chunk of rows at a time."""
    n_addr, n_outcomes = len(cols.addresses), len(cols.outcomes)
    if not len(cols) or n_addr == len(set(cols.address_type.tolist())):
        return ()
    requests = np.zeros(n_addr, dtype=np.int64)
    by_outcome = np.zeros(n_addr * n_outcomes, dtype=np.int64)
    first = np.full(n_addr, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n_addr, np.iinfo(np.int64).min, dtype=np.int64)
    t0 = np.iinfo(np.int64).max
    for rows in row_chunks(len(cols)):
        address, scheduled = cols.address_code[rows].astype(np.int64), cols.scheduled_ns[rows]
        t0 = min(t0, int(scheduled.min()))
        requests += np.bincount(address, minlength=n_addr)
        failed = ~cols.ok[rows]
        where, when = address[failed], scheduled[failed]
        by_outcome += np.bincount(where * n_outcomes + cols.outcome_code[rows][failed], minlength=n_addr * n_outcomes)
        np.minimum.at(first, where, when)
        np.maximum.at(last, where, when)
    outcomes = by_outcome.reshape(n_addr, n_outcomes)
    rows_out = []
    for a, label in enumerate(cols.addresses):
        n, bad = int(requests[a]), int(outcomes[a].sum())
        found = sorted((cols.outcomes[c], int(v)) for c, v in enumerate(outcomes[a].tolist()) if v)
        rows_out.append(TargetRow(
            service_type=cols.types[int(cols.address_type[a])], target=label, requests=n, failed=bad,
            ratio=ratio(n - bad, n), failures_by_outcome=dict(found),
            first_failure_s=round(float((first[a] - t0) / NS_PER_S), 3) if bad else None,
            last_failure_s=round(float((last[a] - t0) / NS_PER_S), 3) if bad else None))
    return tuple(rows_out)
