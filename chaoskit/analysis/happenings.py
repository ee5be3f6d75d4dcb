"""What happened that the numbers alone do not say: drains paced by a PodDisruptionBudget, hostPath data that
another node could read. One sentence each, with the evidence (counts, instants relative to the first phase)
from this run's tables. (A NodePort dark under ``externalTrafficPolicy: Local`` is a finding now:
findings/local_policy.py.)
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from chaoskit.analysis.frames import NS_PER_S, PhaseSpan
from chaoskit.checks.results import DataCheckResult
from chaoskit.vocab import EventKind


def happenings(events: pd.DataFrame, data: Sequence[DataCheckResult],
               phases: Sequence[PhaseSpan]) -> tuple[str, ...]:
    origin = phases[0].begin_ns if phases else 0
    return (*paced_drains(events, origin), *shared_host_paths(data))


def paced_drains(events: pd.DataFrame, origin: int) -> list[str]:
    """One line per node whose drain the Eviction API refused (429) at least once."""
    kind = events["kind"].astype(str)
    refused = events.loc[kind == EventKind.EVICTION_REFUSED.value, ["ts_ns", "name", "node", "detail"]]
    if refused.empty:
        return []
    terminating = events.loc[kind == EventKind.POD_TERMINATING.value, ["ts_ns", "name"]]
    lines = []
    for node, rows in refused.groupby("node", sort=True):
        waits = []
        for pod, pod_rows in rows.groupby("name", sort=True):
            first = int(pod_rows["ts_ns"].min())
            later = terminating.loc[(terminating["name"] == pod) & (terminating["ts_ns"] >= first), "ts_ns"]
            waits.append((int(later.min()) - first if len(later) else None, str(pod)))
        done = [(w, p) for w, p in waits if w is not None]
        longest = max(done) if done else None
        tail = (f"; the longest wait was {longest[0] / NS_PER_S:.3f} s ({longest[1]}), until the budget allowed it"
                if longest else "; the budget never allowed them during the run")
        lines.append(f"drain of {node} was paced by a PodDisruptionBudget: {len(rows)} eviction(s) of "
                     f"{len(waits)} pod(s) refused (429), from t+{(int(rows['ts_ns'].min()) - origin) / NS_PER_S:.3f} s"
                     f"{tail} ({rows['detail'].iloc[0]})")
    return lines


def shared_host_paths(data: Sequence[DataCheckResult]) -> list[str]:
    """hostPath markers read back on another node: the nodes share that path."""
    seen: dict[str, DataCheckResult] = {}
    for row in data:
        if row.volume_type == "hostPath" and row.placement == "other-node" and row.survived:
            seen.setdefault(row.volume, row)
    return [f"hostPath volume {r.volume}: a marker written on {r.victim_node} was read on {r.replacement_node}: "
            "the nodes share this path (a network filesystem, or one disk for both), so its data is not "
            "node-local as hostPath usually is" for r in seen.values()]
