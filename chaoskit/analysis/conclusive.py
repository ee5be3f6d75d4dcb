"""Can this run support a claim either way? The reasons it cannot make the verdict INCONCLUSIVE.

A verdict needs evidence that (1) every scheduled fault happened, to the victims it asked for, and its effect
was seen in the cluster's events; (2) the service was in its steady state before the first fault (every
address answered before the baseline, and the baseline itself met the availability SLO); (3) the load agent
delivered the planned schedule (the requests were sent, on time). Anything less, and a PASS would claim
resilience that was never tested, a FAIL would blame faults for what was already broken or for the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pandas as pd

from chaoskit.analysis.availability import AvailabilityRow
from chaoskit.analysis.evidence import FiringOutcome, RunFacts
from chaoskit.analysis.health import AgentHealth
from chaoskit.vocab import EventKind

BASELINE: Final = "baseline"
NOT_SENT_TOLERANCE: Final = 0.001
"""Requests the agent could not send (its in-flight cap was reached) may be at most 0.1 % of the plan."""
MISSING_TOLERANCE: Final = 0.001
"""Requests missing from the records (planned, never recorded) may be at most 0.1 % of the plan."""
LATE_P99_NS: Final = 250_000_000
"""A p99 start lag beyond 250 ms: the agent no longer kept the planned arrival times (a quarter second is longer
than most windows it would have to resolve). Between 20 ms (``SATURATED_P99_LAG_NS``) and this, a warning."""
AFFECTED: Final = frozenset(k.value for k in (
    EventKind.POD_TERMINATING, EventKind.POD_DELETED, EventKind.POD_NOT_READY, EventKind.CONTAINER_DIED,
    EventKind.CONTAINER_RESTARTED,
))
"""Event kinds that show a victim pod was hit (it went away, stopped being ready, or restarted)."""


@dataclass(frozen=True)
class Conclusiveness:
    reasons: tuple[str, ...] = ()
    """Why no claim can be made; empty when the run is conclusive."""
    warnings: tuple[str, ...] = ()
    """What weakens the measurement without voiding it."""


def conclusiveness(facts: RunFacts, *, events: pd.DataFrame, availability: Sequence[AvailabilityRow],
                   availability_slo: float | None, agent: AgentHealth, recorded: int) -> Conclusiveness:
    reasons = [*_fault_reasons(facts, events), *_steady_state_reasons(facts, availability, availability_slo),
               *_load_reasons(facts, agent, recorded)]
    warnings = _baseline_warnings(availability) if availability_slo is None else []
    return Conclusiveness(tuple(reasons), tuple(warnings))


def _fault_reasons(facts: RunFacts, events: pd.DataFrame) -> list[str]:
    reasons = []
    missing = facts.planned_firings - len(facts.firings)
    if missing > 0:
        reasons.append(f"{missing} of {facts.planned_firings} scheduled fault firings never ran")
    affected = _affected_pods(events)
    for firing in facts.firings:
        reasons.extend(_firing_reasons(firing, affected))
    return reasons


def _firing_reasons(firing: FiringOutcome, affected: dict[str, list[int]]) -> list[str]:
    where = f" on node {firing.node}" if firing.node else ""
    if firing.error:
        return [f"fault {firing.instance} ({firing.kind}) was not injected: {firing.error}"]
    if not firing.victims:
        return [f"fault {firing.instance} ({firing.kind}) hit no pod{where}: no ready pod of the target matched "
                "when it fired, so nothing was tested"]
    reasons = []
    if len(firing.victims) < firing.victims_asked:
        reasons.append(f"fault {firing.instance} ({firing.kind}) hit {len(firing.victims)} pod(s), "
                       f"{firing.victims_asked} were asked for")
    begun = firing.begun_ns or firing.scheduled_ns
    unseen = [p for p in firing.victims if not any(ts >= begun for ts in affected.get(p, ()))]
    if unseen:
        reasons.append(f"fault {firing.instance} ({firing.kind}): no event shows {', '.join(unseen)} affected "
                       "(no termination, deletion, restart or readiness change after the fault instant)")
    return reasons


def _affected_pods(events: pd.DataFrame) -> dict[str, list[int]]:
    rows = events.loc[events["kind"].astype(str).isin(AFFECTED), ["name", "ts_ns"]]
    found: dict[str, list[int]] = {}
    for name, ts in rows.itertuples(index=False, name=None):
        found.setdefault(str(name), []).append(int(ts))
    return found


def _steady_state_reasons(facts: RunFacts, availability: Sequence[AvailabilityRow],
                          slo: float | None) -> list[str]:
    steady = facts.steady_state
    reasons = []
    if steady is not None and not steady.reached:
        reasons.append(f"steady state not reached before the baseline: not every address answered "
                       f"{steady.consecutive} times in a row within {steady.waited_s:g} s")
    if slo is None:
        return reasons
    for row in availability:
        if row.phase != BASELINE or row.ratio is None or row.ratio >= slo:
            continue
        reasons.append(f"steady state not held: the baseline of {row.service_type} was {row.ratio * 100:.3f}% "
                       f"available ({row.failed} of {row.requests} failed) before any fault, below the "
                       f"{slo * 100:.3f}% SLO: failures during chaos cannot be told from the service's own")
    return reasons


def _baseline_warnings(availability: Sequence[AvailabilityRow]) -> list[str]:
    return [f"{r.failed} of {r.requests} {r.service_type} requests failed in the baseline, before any fault "
            "(no availability SLO is set, so the run is not judged on it)"
            for r in availability if r.phase == BASELINE and r.failed]


def _load_reasons(facts: RunFacts, agent: AgentHealth, recorded: int) -> list[str]:
    reasons = [f"the load was not delivered: {problem}" for problem in facts.load_problems]
    planned = facts.planned_requests
    if planned:
        if agent.not_sent > planned * NOT_SENT_TOLERANCE:
            reasons.append(f"the load agent did not send {agent.not_sent} of {planned} planned requests (its "
                           "in-flight cap was reached: the client, not the service, fell behind)")
        if planned - recorded > planned * MISSING_TOLERANCE:
            reasons.append(f"the load agent recorded {recorded} of {planned} planned requests: it stopped "
                           "early or lost records")
    if agent.lag_p99_ms is not None and agent.lag_p99_ms * 1e6 > LATE_P99_NS:
        reasons.append(f"the load agent started requests late (p99 start lag {agent.lag_p99_ms:g} ms > "
                       f"{LATE_P99_NS / 1e6:g} ms): it did not keep the planned schedule, so latency "
                       "and failures may be the client's")
    return reasons
