"""Synthetic runs with known answers, for tests and benchmarks (seeded, no clocks, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from chaoskit.load.records import FRAME_COLUMNS, OUTCOME_LABELS, REQUEST_COLUMNS
from chaoskit.vocab import ClusterEvent, EventKind

SERVICES: Final = {"ClusterIP": "chaoskit-target", "NodePort": "chaoskit-target-nodeport"}
T0_NS: Final = 1_700_000_000_000_000_000
"""A fixed wall-clock origin, so synthetic runs are reproducible."""
_NS: Final = 1_000_000_000


@dataclass(frozen=True)
class Outage:
    """Requests of ``service_type`` scheduled in ``[begin_s, end_s)`` (from t0) fail with ``outcome``."""

    service_type: str
    begin_s: float
    end_s: float
    outcome: str = "refused"
    every: int = 1
    """Fail every ``every``-th request only (3 = one backend of three gone)."""


def synthetic_requests(
    *,
    duration_s: float,
    rate: float = 100.0,
    types: Sequence[str] = ("ClusterIP", "NodePort"),
    outages: Sequence[Outage] = (),
    latency_ms: float = 2.0,
    lag_ms: float = 0.2,
    t0_ns: int = T0_NS,
    seed: int = 1,
) -> pd.DataFrame:
    """Constant-arrival requests per service type, ok except inside the outages; records.py columns."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate)
    parts: list[_Part] = []
    for code, service_type in enumerate(types):
        scheduled = t0_ns + (np.arange(n, dtype=np.int64) * _NS / rate).astype(np.int64)
        lag = (rng.exponential(lag_ms * 1e6, n)).astype(np.int64)
        latency = (rng.lognormal(np.log(latency_ms * 1e6), 0.3, n)).astype(np.int64)
        outcome = np.zeros(n, dtype=np.int8)
        for o in (o for o in outages if o.service_type == service_type):
            i0, i1 = int(np.ceil(o.begin_s * rate)), int(np.ceil(o.end_s * rate))
            hit = np.arange(max(i0, 0), min(i1, n))
            hit = hit[(hit - i0) % o.every == 0]
            outcome[hit] = OUTCOME_LABELS.index(o.outcome)
            latency[hit] = 100_000  # a refused connect fails fast
        parts.append(_Part(scheduled, scheduled + lag, latency, code, outcome))
    return _frame(parts, types)


@dataclass(frozen=True)
class _Part:
    scheduled: npt.NDArray[np.int64]
    start: npt.NDArray[np.int64]
    latency: npt.NDArray[np.int64]
    type_code: int
    outcome: npt.NDArray[np.int8]


def _categorical(codes: npt.NDArray[np.int8], labels: Sequence[str]) -> pd.Categorical[int]:
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(list(labels)))


def _frame(parts: list[_Part], types: Sequence[str]) -> pd.DataFrame:
    outcome = np.concatenate([p.outcome for p in parts])
    type_code = np.concatenate([np.full(len(p.outcome), p.type_code, dtype=np.int8) for p in parts])
    status = np.where(outcome == 0, 200, np.where(outcome == 1, 503, 0)).astype(np.int16)
    frame = pd.DataFrame(
        {
            "scheduled_ns": np.concatenate([p.scheduled for p in parts]),
            "start_ns": np.concatenate([p.start for p in parts]),
            "latency_ns": np.concatenate([p.latency for p in parts]),
            "service": _categorical(type_code, [SERVICES.get(t, t) for t in types]),
            "service_type": _categorical(type_code, types),
            "outcome": _categorical(outcome, OUTCOME_LABELS),
            "status": status,
            "ok": outcome == 0,
        }
    )
    return frame[list(REQUEST_COLUMNS)]


def events_frame(events: Sequence[ClusterEvent]) -> pd.DataFrame:
    """ClusterEvents as the events table (one row each, ``kind`` as its string value)."""
    return pd.DataFrame(
        {
            "ts_ns": np.array([e.ts_ns for e in events], dtype=np.int64),
            "kind": [str(e.kind.value) for e in events],
            "namespace": [e.namespace for e in events],
            "name": [e.name for e in events],
            "node": [e.node for e in events],
            "ip": [e.ip for e in events],
            "service": [e.service for e in events],
            "detail": [e.detail for e in events],
            "source_ts_ns": pd.array([e.source_ts_ns for e in events], dtype="Int64"),
        }
    )


def phase_events(phases: Sequence[tuple[str, float]], *, t0_ns: int = T0_NS) -> list[ClusterEvent]:
    """PHASE begin/end events for back-to-back phases of the given lengths (seconds)."""
    events, at = [], t0_ns
    for name, length in phases:
        end = at + int(length * _NS)
        events.append(ClusterEvent(at, EventKind.PHASE, name=name, detail="begin"))
        events.append(ClusterEvent(end, EventKind.PHASE, name=name, detail="end"))
        at = end
    return events


@dataclass(frozen=True)
class PodDeleteScript:
    """A pod-delete experiment's cluster timeline: each fault replaces the oldest pod."""

    fault_at_s: Sequence[float]
    """Fault instants, seconds from t0."""
    replacement_scheduled_s: float = 0.05
    """Fault instant to the replacement pod bound to a node."""
    replacement_ready_s: float = 1.0
    """Fault instant to the replacement pod Ready."""
    sync_s: float = 0.3
    """Control-plane change to the data path forwarding accordingly (kube-proxy lag)."""
    replicas: int = 3
    services: Sequence[str] = tuple(SERVICES.values())


def pod_delete_events(
    script: PodDeleteScript, *, phases: Sequence[tuple[str, float]], t0_ns: int = T0_NS
) -> list[ClusterEvent]:
    """Phases, the initial pods, then for each fault: victim out of the data path, replacement in."""
    events = phase_events(phases, t0_ns=t0_ns)
    pods = [(f"chaoskit-target-5d8f-p{i}", f"10.0.0.{i + 1}") for i in range(script.replicas)]
    before = t0_ns - _NS
    for name, ip in pods:
        events.append(ClusterEvent(before, EventKind.POD_ADDED, name=name, ip=ip, node="node-1"))
        events.append(ClusterEvent(before, EventKind.POD_SCHEDULED, name=name, ip=ip, node="node-1"))
        events.append(ClusterEvent(before, EventKind.POD_READY, name=name, ip=ip, node="node-1"))
    events += _synced(before, script.services, [ip for _, ip in pods])
    for k, at_s in enumerate(script.fault_at_s):
        at = t0_ns + int(at_s * _NS)
        (victim, victim_ip), pods = pods[0], pods[1:]
        new = (f"chaoskit-target-5d8f-r{k}", f"10.0.1.{k + 1}")
        detail = f"pod-delete|{victim}"
        events.append(ClusterEvent(at, EventKind.FAULT_BEGIN, name=f"pod-delete-0#{k}", ip=victim_ip,
                                   node="node-1", detail=detail))  # fmt: skip
        events.append(ClusterEvent(at + 1000, EventKind.POD_TERMINATING, name=victim, ip=victim_ip))
        events.append(ClusterEvent(at + 2000, EventKind.POD_ADDED, name=new[0]))
        bound = at + int(script.replacement_scheduled_s * _NS)
        events.append(ClusterEvent(bound, EventKind.POD_SCHEDULED, name=new[0], node="node-1"))
        events += _synced(at + int(script.sync_s * _NS), script.services, [ip for _, ip in pods])
        ready = at + int(script.replacement_ready_s * _NS)
        events.append(ClusterEvent(ready, EventKind.POD_READY, name=new[0], ip=new[1], node="node-1"))
        pods.append(new)
        events += _synced(ready + int(script.sync_s * _NS), script.services, [ip for _, ip in pods])
        events.append(ClusterEvent(at + 3000, EventKind.POD_DELETED, name=victim, ip=victim_ip))
        events.append(ClusterEvent(at + 5000, EventKind.FAULT_END, name=f"pod-delete-0#{k}"))
    return sorted(events, key=lambda e: e.ts_ns)


def _synced(ts_ns: int, services: Sequence[str], ips: Sequence[str]) -> list[ClusterEvent]:
    detail = ",".join(sorted(ips))
    return [ClusterEvent(ts_ns, EventKind.PROXY_SYNCED, service=s, detail=detail) for s in services]


def requests_from(
    start_ns: Sequence[int],
    ok: Sequence[bool],
    *,
    latency_ns: int | Sequence[int] = 1_000_000,
    service_type: str | Sequence[str] = "ClusterIP",
    outcome: str = "refused",
    scheduled_ns: Sequence[int] | None = None,
    target: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """A hand-written request table: failed rows get ``outcome``; scheduled defaults to start;
    ``target`` adds the address column (``host:port (node)``) the agents record."""
    n = len(start_ns)
    types = [service_type] * n if isinstance(service_type, str) else list(service_type)
    outcomes = ["ok" if good else outcome for good in ok]
    frame = pd.DataFrame(
        {
            "scheduled_ns": np.asarray(start_ns if scheduled_ns is None else scheduled_ns, np.int64),
            "start_ns": np.asarray(start_ns, dtype=np.int64),
            "latency_ns": np.broadcast_to(np.asarray(latency_ns, dtype=np.int64), (n,)).copy(),
            "service": pd.Categorical([SERVICES.get(t, t) for t in types]),
            "service_type": pd.Categorical(types),
            "outcome": pd.Categorical(outcomes, categories=list(OUTCOME_LABELS)),
            "status": np.where(np.asarray(ok, dtype=bool), 200, 0).astype(np.int16),
            "ok": np.asarray(ok, dtype=bool),
        }
    )
    if target is None:
        return frame[list(REQUEST_COLUMNS)]
    frame["target"] = pd.Categorical([target] * n if isinstance(target, str) else list(target))
    return frame[list(FRAME_COLUMNS)]
