"""Pod churn within the phases (baseline to the end of recovery): pods created and deleted, pods that
served, pod IPs, and whether an IP was reused.

Definitions (exact). The span is the first phase's begin to the last phase's end (the whole event table
when no phase was recorded). ``pods_created``/``pods_deleted`` count POD_ADDED/POD_DELETED events inside
the span: setup's initial pods and teardown's deletions are outside it. ``distinct_pods`` counts pods
that were Ready at some moment of the span: Ready from a POD_READY until the next POD_NOT_READY,
POD_TERMINATING or POD_DELETED. ``distinct_pod_ips`` counts their IPs. ``reused_ips`` looks at every pod
event of the run: an IP that belonged to more than one pod.
"""

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
_READY = EventKind.POD_READY.value
_UNREADY = frozenset(k.value for k in (EventKind.POD_NOT_READY, EventKind.POD_TERMINATING, EventKind.POD_DELETED))


@dataclass(frozen=True)
class ChurnStats:
    pods_created: int
    """POD_ADDED events within the phases."""
    pods_deleted: int
    """POD_DELETED events within the phases."""
    distinct_pods: int
    """Pods that were Ready at some moment of the phases."""
    distinct_pod_ips: int
    """IPs of those pods."""
    reused_ip_count: int
    """Pod IPs that belonged to more than one pod during the run."""
    reused_ips: tuple[str, ...] = ()

    @property
    def ips_reused(self) -> bool:
        return self.reused_ip_count > 0


def churn(events: pd.DataFrame, phases: tuple[PhaseSpan, ...]) -> ChurnStats:
    check_events(events)
    kind = events["kind"].astype(str)
    pods = events.loc[kind.isin(_POD_EVENTS), ["ts_ns", "name", "ip"]].assign(kind=kind)
    pods = pods.sort_values("ts_ns", kind="stable")
    begin, end = (phases[0].begin_ns, phases[-1].end_ns) if phases else (None, None)
    ts = pods["ts_ns"]
    inside = (ts >= begin) & (ts <= end) if begin is not None and end is not None else pd.Series(True, pods.index)
    with_ip = pods[pods["ip"].fillna("").astype(str) != ""]
    owners = with_ip.groupby(with_ip["ip"].astype(str))["name"].nunique()
    reused = sorted(str(ip) for ip in owners[owners > 1].index)
    served = _ready_during(pods, begin, end)
    ips = {ip for name, ip in zip(with_ip["name"], with_ip["ip"].astype(str), strict=True) if name in served}
    return ChurnStats(
        pods_created=int(((pods["kind"] == EventKind.POD_ADDED.value) & inside).sum()),
        pods_deleted=int(((pods["kind"] == EventKind.POD_DELETED.value) & inside).sum()),
        distinct_pods=len(served),
        distinct_pod_ips=len(ips),
        reused_ip_count=len(reused),
        reused_ips=tuple(reused[:MAX_LISTED]),
    )


def _ready_during(pods: pd.DataFrame, begin: int | None, end: int | None) -> set[str]:
    """Names of the pods Ready at some moment of [begin, end] (any moment when None)."""
    ready_since: dict[str, int] = {}
    served: set[str] = set()
    for ts, name, kind in zip(pods["ts_ns"].tolist(), pods["name"].astype(str), pods["kind"], strict=True):
        if kind == _READY:
            ready_since.setdefault(name, ts)
        elif kind in _UNREADY and name in ready_since:
            since = ready_since.pop(name)
            if _overlaps(since, ts, begin, end):
                served.add(name)
    served.update(name for name, since in ready_since.items() if end is None or since <= end)
    return served


def _overlaps(since: int, until: int, begin: int | None, end: int | None) -> bool:
    return (end is None or since <= end) and (begin is None or until >= begin)
