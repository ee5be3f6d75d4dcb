"""The load plan: which addresses to load, how hard and how; stdlib-only so the agent process can read it.

The plan travels to the agent process as JSON (``to_json`` / ``from_json``); both sides use these classes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal

from chaoskit.load.shape import PLAIN_GET, RequestShape, problems

ConnectionMode = Literal["keepalive", "new-connection"]
CONNECTION_MODES: Final = ("keepalive", "new-connection")


MAX_WORKERS: Final = 64
"""Upper bound of worker processes (or pods) per agent: labels of per-worker series stay bounded."""
MIN_WORKER_RATE: Final = 1.0
"""Each worker needs at least this many requests per second per address, or the split is pointless."""


class PlanError(ValueError):
    """A load plan is not runnable (bad rate, duration, mode or target); the message names the field."""


@dataclass(frozen=True, slots=True)
class Share:
    """Worker ``index`` of ``of``: it runs requests index, index + of, index + 2·of... of every target."""

    index: int
    of: int

    def requests(self, per_target: int) -> int:
        """How many of a target's ``per_target`` scheduled requests this share runs."""
        return len(range(self.index, per_target, self.of))


WHOLE: Final = Share(0, 1)
"""The whole schedule: a single agent's share."""


def max_workers(rate: float) -> int:
    """The most workers a per-address rate can be split over (each keeps >= MIN_WORKER_RATE)."""
    return max(1, min(MAX_WORKERS, math.floor(rate / MIN_WORKER_RATE + 1e-9)))


@dataclass(frozen=True, slots=True)
class LoadTarget:
    """One address the agent loads; records carry its index in ``LoadPlan.targets``."""

    service: str
    service_type: str
    """ClusterIP | NodePort | Headless | LoadBalancer (how the address reaches the Service)."""
    host: str
    port: int
    path: str = "/"
    node: str = ""
    """The node this address belongs to (NodePort), for per-address reporting; empty otherwise."""
    request: RequestShape = PLAIN_GET
    """What each request sends and what counts as success; its paths (if any) replace ``path``."""

    @property
    def label(self) -> str:
        """``host:port``, with the node in parentheses when there is one."""
        return f"{self.host}:{self.port}" + (f" ({self.node})" if self.node else "")


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """Constant-arrival-rate load on every target for ``duration_s`` seconds."""

    targets: tuple[LoadTarget, ...]
    rate: float
    """Requests per second, per target."""
    duration_s: float
    connection: ConnectionMode
    timeout_s: float
    """Per-request budget covering connect and the full response."""
    start_at_ns: int | None = None
    """Wall-clock instant (``time.time_ns()``) of the first request; ``None``: as soon as the agent is ready."""
    records: bool = field(default=True, kw_only=True)
    """False discards records in the agent (only to measure the capture overhead)."""
    in_flight_cap: int | None = field(default=None, kw_only=True)
    """Override of ``max_in_flight`` (tests and benchmarks); ``None``: derived from rate and timeout."""
    workers: int = field(default=1, kw_only=True)
    """Processes (or pods) the schedule is spread over: 1 is one agent; more is Locust's distributed mode,
    worker k running requests k, k+N, k+2N... of every target (``Share``)."""
    start_lead_s: float = field(default=0.25, kw_only=True)
    """Without ``start_at_ns``: the first request is due this long after the agent is ready (time for the
    other side to learn t0, e.g. through a pod log, and start its own agents on the same instant)."""

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def requests_per_target(self) -> int:
        """Requests scheduled per target: at t0 + i/rate for every i with i/rate < duration."""
        return math.ceil(self.rate * self.duration_s - 1e-9)

    def planned_requests(self, share: Share | None = None) -> int:
        """Requests scheduled over every target: the whole plan's, or one worker's share of it."""
        per_target = self.requests_per_target
        return len(self.targets) * (share.requests(per_target) if share else per_target)

    def share(self, index: int) -> Share:
        return Share(index, self.workers)

    @property
    def max_in_flight(self) -> int:
        """Cap on concurrent requests per target: a timeout's worth of arrivals plus slack."""
        if self.in_flight_cap is not None:
            return self.in_flight_cap
        return math.ceil(self.rate * self.timeout_s) + max(16, math.ceil(self.rate * 0.1))

    def to_json(self) -> str:
        # Shapes are listed once and targets name theirs by index: a Service reached through several
        # addresses (NodePort on every node) would otherwise repeat its body and CA bundle per address.
        shapes = list(dict.fromkeys(t.request for t in self.targets))
        raw: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "targets"}
        raw["targets"] = [{**_target_fields(t), "request": shapes.index(t.request)} for t in self.targets]
        raw["requests"] = [s.to_dict() for s in shapes]
        return json.dumps(raw, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LoadPlan:
        try:
            raw: dict[str, Any] = json.loads(text)
            shapes = [RequestShape.from_dict(s) for s in raw.pop("requests", ())]
            targets = tuple(LoadTarget(**{**t, "request": shapes[t["request"]] if "request" in t else PLAIN_GET})
                            for t in raw.pop("targets"))
            return cls(targets=targets, **raw)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise PlanError(f"invalid load plan JSON: {exc}") from exc


def _target_fields(target: LoadTarget) -> dict[str, Any]:
    return {name: getattr(target, name) for name in ("service", "service_type", "host", "port", "path", "node")}


def _validate(plan: LoadPlan) -> None:
    if not plan.targets:
        raise PlanError("targets: at least one target is needed")
    if len(plan.targets) > 255:
        raise PlanError("targets: at most 255 (records carry the index in one byte)")
    for name, value in (("rate", plan.rate), ("duration_s", plan.duration_s),
                        ("timeout_s", plan.timeout_s)):
        if not (math.isfinite(value) and value > 0):
            raise PlanError(f"{name}: must be a positive number, got {value!r}")
    if not (math.isfinite(plan.start_lead_s) and plan.start_lead_s >= 0):
        raise PlanError(f"start_lead_s: must be a number >= 0, got {plan.start_lead_s!r}")
    if plan.in_flight_cap is not None and plan.in_flight_cap < 1:
        raise PlanError(f"in_flight_cap: must be at least 1, got {plan.in_flight_cap}")
    if not 1 <= plan.workers <= max_workers(plan.rate):
        raise PlanError(f"workers: between 1 and {max_workers(plan.rate)} for {plan.rate:g} req/s per address "
                        f"(each worker needs at least {MIN_WORKER_RATE:g} req/s per address), got {plan.workers}")
    if plan.connection not in CONNECTION_MODES:
        raise PlanError(f"connection: one of {CONNECTION_MODES}, got {plan.connection!r}")
    for i, t in enumerate(plan.targets):
        if not 0 < t.port < 65536:
            raise PlanError(f"targets[{i}].port: out of range: {t.port}")
        if not t.path.startswith("/"):
            raise PlanError(f"targets[{i}].path: must start with '/', got {t.path!r}")
        found = problems(t.request)
        if found:
            raise PlanError(f"targets[{i}].request: {'; '.join(found)}")
