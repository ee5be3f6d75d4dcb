"""What the engine knows beyond the two tables, for the verdict and the findings to weigh: every scheduled fault
firing and what it hit, the load it planned, how the steady state was reached before the baseline, and what
the manifests say about the workloads.

Plain frozen data (the engine fills it in; the analysis only reads it), so summaries stay reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chaoskit.analysis.templates import ManifestFacts


@dataclass(frozen=True)
class FiringOutcome:
    """One scheduled firing of one fault, as it happened."""

    instance: str
    """``<fault name>#<n>``: the n-th firing of that fault."""
    kind: str
    scheduled_ns: int
    """The instant it was scheduled for (wall clock, ns)."""
    begun_ns: int | None
    """When it acted (its FAULT_BEGIN instant); None when it never did."""
    victims_asked: int
    """Pods the fault's spec asked for (a node fault asks for the pods of one node: 1 or more)."""
    victims: tuple[str, ...] = ()
    """The pods it hit."""
    node: str = ""
    error: str = ""
    """Why the injection failed, empty when it did not."""

    @property
    def injected(self) -> bool:
        return not self.error and bool(self.victims)


@dataclass(frozen=True)
class SteadyState:
    """The wait before the baseline until every address loaded from this host answered in a row."""

    reached: bool
    waited_s: float
    consecutive: int
    """Successive successful answers required of each address."""
    addresses: tuple[str, ...] = ()
    """The addresses probed (in-cluster targets are not reachable from here and are not probed)."""


@dataclass(frozen=True)
class AddressFacts:
    """One loaded address, as the requests table names it (its ``target`` column), with what the Service
    says about it."""

    service: str
    service_type: str
    target: str
    node: str = ""
    traffic_local: bool = False
    """``externalTrafficPolicy: Local`` (NodePort/LoadBalancer): the node forwards only to its own ready pods."""


@dataclass(frozen=True)
class RunFacts:
    firings: tuple[FiringOutcome, ...] = ()
    planned_firings: int = 0
    """Firings the schedule asked for (fewer outcomes than this: some never ran)."""
    planned_requests: int | None = None
    """Requests the load plans scheduled (rate x duration x addresses); None when no load started."""
    steady_state: SteadyState | None = None
    addresses: tuple[AddressFacts, ...] = ()
    load_problems: tuple[str, ...] = ()
    """Why the load was not delivered as planned (a worker that died, an agent that stopped early)."""
    manifests: ManifestFacts = field(default_factory=ManifestFacts)
    """What the manifests say about the workloads, budgets and Services (templates.py), for the findings."""
