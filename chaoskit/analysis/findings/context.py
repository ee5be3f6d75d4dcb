"""What every rule reads: the run's tables as the analysis already prepared them, the engine's facts, and a
few shared views (failed requests, terminations, ready pods per workload, the data path's view of a pod IP).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from chaoskit.analysis.evidence import RunFacts
from chaoskit.analysis.findings.model import Evidence
from chaoskit.analysis.frames import NS_PER_S, BoolArray, Columns, IntArray, PhaseSpan, row_chunks
from chaoskit.analysis.recovery import FaultRecovery
from chaoskit.analysis.templates import ManifestFacts, WorkloadFacts
from chaoskit.analysis.timeline import ProxySync, Timeline, owner_prefix
from chaoskit.analysis.verdict import SloTargets
from chaoskit.checks.results import DataCheckResult
from chaoskit.vocab import EventKind

AGENT_POD_PREFIX: Final = "chaoskit-load-agent"
"""chaoskit's own in-cluster load agent: never counted as a pod of the target."""
WATCH_SLACK_S: Final = 1.0
"""A POD_TERMINATING this soon after a fault acted on the pod is that fault's deletion, seen late."""
CONNECT_FAILURES: Final = frozenset({"refused", "reset", "connect_timeout"})
"""Outcomes of a new connection that found no listening pod behind the address (reset on the embedded
cluster, refused or a connect timeout through kube-proxy)."""
_UP: Final = frozenset({EventKind.POD_READY.value})
_DOWN: Final = frozenset(k.value for k in (EventKind.POD_NOT_READY, EventKind.POD_TERMINATING,
                                            EventKind.POD_DELETED))
StrArray = npt.NDArray[np.str_]


@dataclass(frozen=True)
class Failures:
    """Failed requests (sent ones) as parallel arrays, in start order."""

    start: IntArray
    done: IntArray
    outcome: StrArray
    address: StrArray
    service: StrArray

    def __len__(self) -> int:
        return len(self.start)

    def where(self, mask: npt.NDArray[np.bool_]) -> Failures:
        return Failures(self.start[mask], self.done[mask], self.outcome[mask], self.address[mask],
                        self.service[mask])

    def started_in(self, begin_ns: int, end_ns: int) -> npt.NDArray[np.bool_]:
        """Started in ``[begin, end]``."""
        return np.asarray((self.start >= begin_ns) & (self.start <= end_ns))

    def outcomes(self) -> dict[str, int]:
        labels, counts = np.unique(self.outcome, return_counts=True)
        pairs = sorted(zip(labels.tolist(), counts.tolist(), strict=True), key=lambda p: (-p[1], p[0]))
        return {str(k): int(v) for k, v in pairs}


@dataclass(frozen=True)
class Termination:
    """A pod turning Terminating (a graceful delete or an eviction)."""

    pod: str
    ip: str
    node: str
    ts_ns: int
    """When it was deleted: the instant of the fault that deleted it when its POD_TERMINATING followed within
    :data:`WATCH_SLACK_S` (a watch reports the deletion late: 60 ms on the test bed), else that event's."""
    grace_s: float | None
    """The grace period it was given (``grace=30s``), None when the event does not say."""
    deleted_ns: int | None
    """When it left the API (its containers had stopped)."""


@dataclass(frozen=True)
class Shortfall:
    """Intervals with fewer serving pods than a floor, and the failed requests that started inside them."""

    intervals: tuple[tuple[int, int], ...]
    hits: BoolArray
    lowest: int
    """The fewest pods served at once in the span looked at."""

    @property
    def seconds(self) -> float:
        return sum(end - begin for begin, end in self.intervals) / NS_PER_S


@dataclass(frozen=True)
class FindingContext:
    timeline: Timeline
    cols: Columns
    events: pd.DataFrame
    phases: tuple[PhaseSpan, ...]
    faults: tuple[FaultRecovery, ...]
    facts: RunFacts
    data: tuple[DataCheckResult, ...]
    slo: SloTargets
    run_end_ns: int

    @property
    def manifests(self) -> ManifestFacts:
        return self.facts.manifests

    @property
    def origin_ns(self) -> int:
        return self.phases[0].begin_ns if self.phases else 0

    @property
    def data_path_observed(self) -> bool:
        """The backend reports what its proxies forward to (PROXY_SYNCED: the embedded cluster)."""
        return bool(self.timeline.syncs)

    def at(self, ts_ns: int) -> str:
        """An instant as the report writes it: seconds since the first phase began."""
        return f"t{(ts_ns - self.origin_ns) / NS_PER_S:+.3f} s"

    @cached_property
    def failures(self) -> Failures:
        """Every failed request in start order (ties in row order), gathered a chunk of rows at a time."""
        cols = self.cols
        found: list[tuple[npt.NDArray[Any], ...]] = []
        for chunk in row_chunks(len(cols)):
            failed = ~cols.ok[chunk]
            if failed.any():
                found.append(tuple(column[chunk][failed] for column in (
                    cols.start_ns, cols.latency_ns, cols.outcome_code, cols.address_code, cols.service_code)))
        start, latency, outcome, address, service = (
            np.concatenate([f[i] for f in found]) if found else np.empty(0, dtype=np.int64) for i in range(5))
        order = np.argsort(start, kind="stable")
        start = start[order]
        return Failures(start, start + latency[order], _labels(cols.outcomes, outcome[order]),
                        _labels(cols.addresses, address[order]), _labels(cols.services, service[order]))

    def workload(self, pod: str) -> WorkloadFacts | None:
        return self.manifests.workload_of(pod)

    def workload_name(self, pod: str) -> str:
        """``Deployment web`` from the manifests; else the pods' common name prefix."""
        found = self.workload(pod)
        return found.describe if found else f"the workload of pods {owner_prefix(pod)}-*"

    @cached_property
    def terminations(self) -> tuple[Termination, ...]:
        """Pods that turned Terminating during the phases (teardown's deletions are not counted)."""
        kind = self.events["kind"].astype(str)
        within = (self.events["ts_ns"] >= self.origin_ns) & (self.events["ts_ns"] < self.run_end_ns) \
            if self.phases else True  # teardown's deletions are not the experiment's
        rows = self.events.loc[(kind == EventKind.POD_TERMINATING.value) & within,
                               ["ts_ns", "name", "ip", "node", "detail"]]
        hit = {v.pod: f.begin_ns for f in self.timeline.faults for v in f.victims}
        seen: dict[str, Termination] = {}
        for ts, name, ip, node, detail in rows.sort_values("ts_ns", kind="stable").itertuples(index=False):
            pod = str(name)
            if pod in seen or pod.startswith(AGENT_POD_PREFIX):
                continue
            history = self.timeline.pods.get(pod)
            acted = hit.get(pod, int(ts))
            deleted = acted if 0 <= int(ts) - acted <= WATCH_SLACK_S * NS_PER_S else int(ts)
            seen[pod] = Termination(pod=pod, ip=_text(ip) or (history.ip if history else ""),
                                    node=_text(node) or (history.node if history else ""), ts_ns=deleted,
                                    grace_s=_grace(_text(detail)),
                                    deleted_ns=history.deleted_ns if history else None)
        return tuple(seen.values())

    def ready_steps(self, member: Callable[[str], bool]) -> list[tuple[int, int]]:
        """(instant, ready pods) after every change of the pods ``member`` accepts, in time order."""
        return steps_of(self._readiness, member)

    @cached_property
    def _readiness(self) -> list[tuple[int, bool, str]]:
        return readiness_changes(self.events)

    def routable_steps(self, member: Callable[[str], bool]) -> list[tuple[int, int]]:
        """(instant, pods the data path forwards to) after every routing change, for the pods ``member``
        accepts: what users can reach, which lags the pods' readiness by a proxy sync. Without an observable
        data path (kube) the Services' ready endpoints stand in."""
        owner = {pod.ip: name for name, pod in self.timeline.pods.items() if pod.ip}
        state: dict[tuple[str, str], frozenset[str]] = {}
        steps = []
        for view in sorted(self.timeline.syncs or self.timeline.endpoint_views, key=lambda v: v.ts_ns):
            state[(view.service, view.node)] = view.endpoints
            routed = frozenset().union(*state.values())
            steps.append((view.ts_ns, sum(1 for ip in routed if ip in owner and member(owner[ip]))))
        return steps

    def serving_steps(self, member: Callable[[str], bool]) -> list[tuple[int, int]]:
        """:meth:`routable_steps`, or the pods' readiness when nothing reports routing at all."""
        return self.routable_steps(member) or self.ready_steps(member)

    def shortfall(self, steps: Sequence[tuple[int, int]], floor: int, begin_ns: int, end_ns: int) -> Shortfall:
        """Where ``steps`` (a workload's serving pods) stayed below ``floor`` within ``[begin, end)``."""
        intervals = intervals_below(steps, floor, begin_ns, end_ns)
        hits = np.zeros(len(self.failures), dtype=bool)
        for begin, end in intervals:
            hits |= self.failures.started_in(begin, end - 1)
        lowest = min((v for t, v in steps if begin_ns <= t < end_ns), default=count_at(steps, begin_ns))
        return Shortfall(tuple(intervals), hits, min(lowest, count_at(steps, begin_ns)))

    @property
    def routing_source(self) -> str:
        return "the data path" if self.data_path_observed else "the Services' ready endpoints"

    def member_of(self, workload: str) -> Callable[[str], bool]:
        """Whether a pod belongs to ``workload`` (a :meth:`workload_name`)."""
        return lambda pod: self.workload_name(pod) == workload

    def fault_span(self, name: str) -> tuple[int, int]:
        """A fault instance's instant and the next fault's (or the end of the run): its failures' span."""
        faults = self.timeline.faults
        i = next(k for k, f in enumerate(faults) if f.name == name)
        return faults[i].begin_ns, faults[i + 1].begin_ns if i + 1 < len(faults) else self.run_end_ns

    def node_names(self) -> set[str]:
        """Every node the events name (node events, and pods' nodes)."""
        return {_text(n) for n in self.events["node"].unique().tolist()} - {""}

    def removed_from_routing(self, ip: str, after_ns: int) -> tuple[int | None, frozenset[str]]:
        """When the data path (or, unobserved, the Services' endpoints) stopped sending to ``ip`` for good,
        at or after ``after_ns``; and the Services that had routed to it. None: still routed at the end."""
        views = self.timeline.syncs or self.timeline.endpoint_views
        return removed_from(views, ip, after_ns)


def readiness_changes(events: pd.DataFrame) -> list[tuple[int, bool, str]]:
    """(instant, ready or not, pod) of every pod readiness change, in time order (chaoskit's agent left out)."""
    kind = events["kind"].astype(str)
    rows = events.loc[kind.isin(_UP | _DOWN), ["ts_ns", "kind", "name"]].sort_values("ts_ns", kind="stable")
    return [(int(ts), str(what) in _UP, str(name)) for ts, what, name in rows.itertuples(index=False, name=None)
            if not str(name).startswith(AGENT_POD_PREFIX)]


def steps_of(changes: Sequence[tuple[int, bool, str]], member: Callable[[str], bool]) -> list[tuple[int, int]]:
    """(instant, ready pods) after every change of the pods ``member`` accepts."""
    ready: set[str] = set()
    steps: list[tuple[int, int]] = []
    for ts, up, pod in changes:
        if member(pod):
            (ready.add if up else ready.discard)(pod)
            steps.append((ts, len(ready)))
    return steps


def count_at(steps: Sequence[tuple[int, int]], ts_ns: int) -> int:
    """Ready pods just before ``ts_ns`` (0 before the first step)."""
    count = 0
    for at, value in steps:
        if at >= ts_ns:
            break
        count = value
    return count


def intervals_below(steps: Sequence[tuple[int, int]], floor: int, begin_ns: int,
                    end_ns: int) -> list[tuple[int, int]]:
    """Intervals within ``[begin, end)`` during which fewer than ``floor`` pods were ready."""
    out: list[tuple[int, int]] = []
    current, since = count_at(steps, begin_ns), begin_ns
    low_since: int | None = since if current < floor else None
    for at, value in steps:
        if at < begin_ns:
            continue
        if at >= end_ns:
            break
        if value < floor and low_since is None:
            low_since = at
        elif value >= floor and low_since is not None:
            out.append((low_since, at))
            low_since = None
    if low_since is not None:
        out.append((low_since, end_ns))
    return out


def removed_from(views: Iterable[ProxySync], ip: str, after_ns: int) -> tuple[int | None, frozenset[str]]:
    """Replay the routing views: the instant ``ip`` left every path of every Service that routed to it (the
    last such instant that is not followed by a return), once at or after ``after_ns``."""
    ordered = sorted(views, key=lambda v: v.ts_ns)
    services = frozenset(v.service for v in ordered if ip in v.endpoints and v.ts_ns <= after_ns)
    if not services:
        return None, services
    state: dict[tuple[str, str], frozenset[str]] = {}
    removed_at: int | None = None
    for view in ordered:
        if view.service not in services:
            continue
        state[(view.service, view.node)] = view.endpoints
        routed = any(ip in ips for ips in state.values())
        if routed:
            removed_at = None
        elif removed_at is None:
            removed_at = view.ts_ns
    return removed_at, services


def evidence(failures: Failures, total: int, **fields: object) -> Evidence:
    """The common fields of an Evidence from the failures a rule explains (``fields`` add the rest)."""
    return Evidence(
        failures=len(failures), of_failures=total,
        first_ns=int(failures.start.min()) if len(failures) else None,
        last_ns=int(failures.start.max()) if len(failures) else None,
        outcomes=failures.outcomes(), addresses=tuple(sorted(set(failures.address.tolist()))),
        **fields,  # type: ignore[arg-type]
    )


def outcome_text(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in outcomes.items())


def _labels(labels: tuple[str, ...], codes: npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    found: npt.NDArray[np.str_] = np.asarray(labels, dtype=str)[codes]
    return found


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _grace(detail: str) -> float | None:
    """``grace=30s`` -> 30.0."""
    for part in detail.split():
        if part.startswith("grace=") and part.endswith("s"):
            try:
                return float(part[len("grace="):-1])
            except ValueError:
                return None
    return None
