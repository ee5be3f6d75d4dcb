"""The event table read as a timeline: fault instances with their victims, pods, data-path syncs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from chaoskit.analysis.frames import check_events
from chaoskit.vocab import EventKind

# Values, not members: Enum hashes by member name, so a plain string is never found among members.
_POD_KINDS = frozenset(
    k.value
    for k in {
        EventKind.POD_ADDED,
        EventKind.POD_SCHEDULED,
        EventKind.POD_RUNNING,
        EventKind.POD_READY,
        EventKind.POD_NOT_READY,
        EventKind.POD_TERMINATING,
        EventKind.POD_DELETED,
        EventKind.CONTAINER_DIED,
        EventKind.CONTAINER_RESTARTED,
    }
)


@dataclass(frozen=True)
class Victim:
    pod: str
    ip: str
    node: str


@dataclass(frozen=True)
class FaultInstance:
    """One injection: every FAULT_BEGIN row with the same ``name``."""

    name: str
    kind: str
    begin_ns: int
    """The fault instant: the earliest FAULT_BEGIN of this instance."""
    end_ns: int | None
    victims: tuple[Victim, ...]


@dataclass
class PodHistory:
    """What the events say about one pod (mutable while the timeline is read, then left alone)."""

    name: str
    first_seen_ns: int
    ip: str = ""
    node: str = ""
    scheduled_ns: list[int] = field(default_factory=list)
    """Every POD_SCHEDULED: bound to a node."""
    ready_ns: list[int] = field(default_factory=list)
    restarted_ns: list[int] = field(default_factory=list)
    added_ns: list[int] = field(default_factory=list)
    """Every POD_ADDED: a StatefulSet re-creates a pod under the same name."""
    deleted_ns: int | None = None

    def appeared_in(self, begin_ns: int, end_ns: int | None, *, recreated: bool = False) -> int | None:
        """When this pod first appeared in ``[begin, end)``; with ``recreated``, a re-add counts too."""
        times = [self.first_seen_ns, *(self.added_ns if recreated else ())]
        return next((t for t in sorted(times) if t >= begin_ns and (end_ns is None or t < end_ns)), None)

    def first_ready_after(self, ts_ns: int) -> int | None:
        return next((t for t in self.ready_ns if t >= ts_ns), None)

    def first_scheduled_after(self, ts_ns: int) -> int | None:
        return next((t for t in self.scheduled_ns if t >= ts_ns), None)


@dataclass(frozen=True)
class ProxySync:
    ts_ns: int
    service: str
    node: str
    endpoints: frozenset[str]


@dataclass(frozen=True)
class Timeline:
    faults: tuple[FaultInstance, ...]
    """In order of their instants."""
    pods: dict[str, PodHistory]
    syncs: tuple[ProxySync, ...]
    """PROXY_SYNCED events in time order."""
    endpoint_adds: tuple[tuple[int, str, str], ...]
    """(ts, ip, service) of every ENDPOINT_ADDED, in time order."""
    endpoint_views: tuple[ProxySync, ...] = ()
    """Each Service's ready endpoint set after every ENDPOINT_ADDED/REMOVED (control-plane view)."""


def owner_prefix(pod: str) -> str:
    """Controller part of a pod name (``web-7d9f-x2k4p`` -> ``web-7d9f``); replacements share it."""
    return pod.rsplit("-", 1)[0] if "-" in pod else pod


def read_timeline(events: pd.DataFrame) -> Timeline:
    check_events(events)
    table = events.sort_values("ts_ns", kind="stable")
    rows = zip(
        table["ts_ns"].astype("int64").tolist(),
        (str(k) for k in table["kind"].tolist()),
        (_text(v) for v in table["name"].tolist()),
        (_text(v) for v in table["node"].tolist()),
        (_text(v) for v in table["ip"].tolist()),
        (_text(v) for v in table["service"].tolist()),
        (_text(v) for v in table["detail"].tolist()),
        strict=True,
    )
    begins: dict[str, list[tuple[int, str, str, str]]] = {}
    ends: dict[str, int] = {}
    pods: dict[str, PodHistory] = {}
    syncs: list[ProxySync] = []
    adds: list[tuple[int, str, str]] = []
    views: list[ProxySync] = []
    ready_sets: dict[str, frozenset[str]] = {}
    for ts, kind, name, node, ip, service, detail in rows:
        if kind == EventKind.FAULT_BEGIN:
            begins.setdefault(name, []).append((ts, detail, ip, node))
        elif kind == EventKind.FAULT_END:
            ends[name] = max(ts, ends.get(name, ts))
        elif kind == EventKind.PROXY_SYNCED:
            ips = frozenset(part.strip() for part in detail.split(",") if part.strip())
            syncs.append(ProxySync(ts, service, node, ips))
        elif kind in (EventKind.ENDPOINT_ADDED, EventKind.ENDPOINT_REMOVED):
            added = kind == EventKind.ENDPOINT_ADDED
            if added:
                adds.append((ts, ip, service))
            current = ready_sets.get(service, frozenset())
            ready_sets[service] = current | {ip} if added else current - {ip}
            views.append(ProxySync(ts, service, "", ready_sets[service]))
        elif kind in _POD_KINDS:
            _note_pod(pods, ts, kind, name=name, ip=ip, node=node)
    faults = [_fault(name, rows_of, ends.get(name)) for name, rows_of in begins.items()]
    faults.sort(key=lambda f: (f.begin_ns, f.name))
    return Timeline(tuple(faults), pods, tuple(syncs), tuple(adds), tuple(views))


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _note_pod(pods: dict[str, PodHistory], ts: int, kind: str, *, name: str, ip: str, node: str) -> None:
    pod = pods.get(name)
    if pod is not None and kind == EventKind.POD_ADDED and pod.deleted_ns is not None:
        # A new pod under a deleted one's name (a StatefulSet's replacement): its own history, its own IP;
        # the old one is kept under ``name@<its first sight>``.
        pods[f"{name}@{pod.first_seen_ns}"] = pod
        pod = None
    if pod is None:
        pod = pods[name] = PodHistory(name=name, first_seen_ns=ts)
    pod.ip = ip or pod.ip
    pod.node = node or pod.node
    if kind == EventKind.POD_READY:
        pod.ready_ns.append(ts)
    elif kind == EventKind.POD_SCHEDULED:
        pod.scheduled_ns.append(ts)
    elif kind == EventKind.CONTAINER_RESTARTED:
        pod.restarted_ns.append(ts)
    elif kind == EventKind.POD_ADDED:
        pod.added_ns.append(ts)
    elif kind == EventKind.POD_DELETED:
        pod.deleted_ns = ts


def _fault(name: str, rows: list[tuple[int, str, str, str]], end_ns: int | None) -> FaultInstance:
    victims: dict[str, Victim] = {}
    kind = ""
    for _, detail, ip, node in rows:
        head, _, pod = detail.partition("|")
        kind = kind or head
        if pod and pod not in victims:
            victims[pod] = Victim(pod=pod, ip=ip, node=node)
    return FaultInstance(
        name=name,
        kind=kind,
        begin_ns=min(r[0] for r in rows),
        end_ns=end_ns,
        victims=tuple(victims.values()),
    )
