"""Pod churn: pods created and deleted during the run, pod IPs seen, and whether an IP was reused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pandas as pd

from chaoskit.analysis.frames import PhaseSpan, check_events
from chaoskit.vocab import EventKind

MAX_LISTED: Final = 20
"""Reused IPs listed at most (the count is always exact)."""

_POD_EVENTS = frozenset(
    k.value
    for k in (
        EventKind.POD_ADDED, EventKind.POD_SCHEDULED, EventKind.POD_RUNNING, EventKind.POD_READY,
        EventKind.POD_NOT_READY, EventKind.POD_TERMINATING, EventKind.POD_DELETED,
    )
)  # fmt: skip


@dataclass(frozen=True)
class ChurnStats:
    pods_created: int
    """POD_ADDED events at or after the first phase began (all of them without phases)."""
    pods_deleted: int
    distinct_pods: int
    distinct_pod_ips: int
    reused_ip_count: int
    """Pod IPs that belonged to more than one pod during the run."""
    reused_ips: tuple[str, ...] = ()

    @property
    def ips_reused(self) -> bool:
        return self.reused_ip_count > 0


def churn(events: pd.DataFrame, phases: tuple[PhaseSpan, ...]) -> ChurnStats:
    check_events(events)
    kind = events["kind"].astype(str)
    pod_rows = events.loc[kind.isin(_POD_EVENTS), ["ts_ns", "name", "ip"]]
    pod_kind = kind[pod_rows.index]
    since = phases[0].begin_ns if phases else None
    in_run = pod_rows["ts_ns"] >= since if since is not None else pd.Series(True, pod_rows.index)
    with_ip = pod_rows[pod_rows["ip"].fillna("").astype(str) != ""]
    owners = with_ip.groupby(with_ip["ip"].astype(str))["name"].nunique()
    reused = sorted(str(ip) for ip in owners[owners > 1].index)
    return ChurnStats(
        pods_created=int(((pod_kind == EventKind.POD_ADDED.value) & in_run).sum()),
        pods_deleted=int(((pod_kind == EventKind.POD_DELETED.value) & in_run).sum()),
        distinct_pods=int(pod_rows["name"].nunique()),
        distinct_pod_ips=len(owners),
        reused_ip_count=len(reused),
        reused_ips=tuple(reused[:MAX_LISTED]),
    )
