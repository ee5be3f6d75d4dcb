"""Availability per address: one Service type is often loaded through several addresses (a NodePort on
every node); when they fare differently, the report must say which node's path failed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from chaoskit.analysis.frames import NS_PER_S, TARGET_COLUMN, address_codes, codes, ratio


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


def by_target(requests: pd.DataFrame) -> tuple[TargetRow, ...]:
    """One row per (service type, address), only when some service type was loaded at several
    addresses (otherwise the availability table already says it all)."""
    if TARGET_COLUMN not in requests.columns or not len(requests):
        return ()
    type_code, types = codes(requests["service_type"])
    address, labels, address_type = address_codes(requests, type_code, types)
    if len(labels) == len(set(address_type.tolist())):
        return ()
    t0 = int(requests["scheduled_ns"].min())
    ok = requests["ok"].to_numpy(dtype=bool)
    scheduled = requests["scheduled_ns"].to_numpy(dtype=np.int64)
    outcome_code, outcomes = codes(requests["outcome"])  # codes, not one string per request
    rows = []
    for a, label in enumerate(labels):
        mask = address == a
        failed = mask & ~ok
        when = (scheduled[failed] - t0) / NS_PER_S
        found, counts = np.unique(outcome_code[failed], return_counts=True)
        by_outcome = sorted((outcomes[c], int(v)) for c, v in zip(found.tolist(), counts.tolist(), strict=True))
        n, bad = int(mask.sum()), int(failed.sum())
        rows.append(TargetRow(
            service_type=types[int(address_type[a])], target=label, requests=n, failed=bad,
            ratio=ratio(n - bad, n), failures_by_outcome=dict(by_outcome),
            first_failure_s=round(float(when.min()), 3) if bad else None,
            last_failure_s=round(float(when.max()), 3) if bad else None))
    return tuple(rows)
