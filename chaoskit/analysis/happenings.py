"""What happened that the numbers alone do not say: drains paced by a PodDisruptionBudget, NodePorts dark under
``externalTrafficPolicy: Local``, hostPath data that another node could read. One sentence each, with the
evidence (counts, instants relative to the first phase) from this run's tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from chaoskit.analysis.evidence import AddressFacts
from chaoskit.analysis.frames import NS_PER_S, PhaseSpan
from chaoskit.checks.results import DataCheckResult
from chaoskit.vocab import EventKind

AGENT_POD_PREFIX = "chaoskit-load-agent"
"""chaoskit's own in-cluster load agent: never counted as a pod of the target."""
_UP = frozenset({EventKind.POD_READY.value})
_DOWN = frozenset(k.value for k in (EventKind.POD_NOT_READY, EventKind.POD_TERMINATING, EventKind.POD_DELETED))


def happenings(events: pd.DataFrame, requests: pd.DataFrame, data: Sequence[DataCheckResult],
               addresses: Sequence[AddressFacts], phases: Sequence[PhaseSpan]) -> tuple[str, ...]:
    origin = phases[0].begin_ns if phases else 0
    return (*paced_drains(events, origin), *local_policy_drops(events, requests, addresses, origin),
            *shared_host_paths(data))


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


def local_policy_drops(events: pd.DataFrame, requests: pd.DataFrame, addresses: Sequence[AddressFacts],
                       origin: int) -> list[str]:
    """Failures on a Local-policy node address while that node had no ready pod."""
    if "target" not in requests.columns or not len(requests):
        return []
    lines = []
    for address in (a for a in addresses if a.traffic_local and a.node):
        failed = requests.loc[(requests["target"].astype(str) == address.target) & ~requests["ok"], "start_ns"]
        if failed.empty:
            continue
        empty = _without_ready_pods(events, address.node)
        starts = failed.to_numpy(dtype=np.int64)
        inside = np.zeros(len(starts), dtype=bool)
        for begin, end in empty:
            inside |= (starts >= begin) & (starts < end)
        if not inside.any():
            continue
        hit = starts[inside]
        lines.append(f"{address.service_type} {address.target} failed {int(inside.sum())} time(s) between "
                     f"t+{(hit.min() - origin) / NS_PER_S:.3f} s and t+{(hit.max() - origin) / NS_PER_S:.3f} s while "
                     f"{address.node} had no ready pod: with externalTrafficPolicy: Local a node forwards its "
                     "NodePort traffic only to its own ready pods, so it drops it (kube-proxy) or refuses it "
                     "(embedded cluster) when it has none")
    return lines


def _without_ready_pods(events: pd.DataFrame, node: str) -> list[tuple[int, int]]:
    """Intervals (ns) in which ``node`` had no ready pod other than chaoskit's own agent."""
    kind = events["kind"].astype(str)
    rows = events.loc[kind.isin(_UP | _DOWN) & (events["node"].astype(str) == node), ["ts_ns", "kind", "name"]]
    rows = rows[~rows["name"].astype(str).str.startswith(AGENT_POD_PREFIX)].sort_values("ts_ns", kind="stable")
    ready: set[str] = set()
    intervals: list[tuple[int, int]] = []
    empty_since: int | None = 0  # no pod known ready before the first event (the bus replays the state first)
    for ts, what, name in rows.itertuples(index=False, name=None):
        (ready.add if str(what) in _UP else ready.discard)(str(name))
        if ready and empty_since is not None:
            intervals.append((empty_since, int(ts)))
            empty_since = None
        elif not ready and empty_since is None:
            empty_since = int(ts)
    if empty_since is not None:
        intervals.append((empty_since, np.iinfo(np.int64).max))
    return intervals


def shared_host_paths(data: Sequence[DataCheckResult]) -> list[str]:
    """hostPath markers read back on another node: the nodes share that path."""
    seen: dict[str, DataCheckResult] = {}
    for row in data:
        if row.volume_type == "hostPath" and row.placement == "other-node" and row.survived:
            seen.setdefault(row.volume, row)
    return [f"hostPath volume {r.volume}: a marker written on {r.victim_node} was read on {r.replacement_node}: "
            "the nodes share this path (a network filesystem, or one disk for both), so its data is not "
            "node-local as hostPath usually is" for r in seen.values()]
