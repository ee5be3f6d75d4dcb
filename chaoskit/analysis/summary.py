"""The run summary: every measurement of one run in one frozen tree, and its JSON form (summary.json)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import pandas as pd

from chaoskit.analysis.availability import ALL_PHASES, AvailabilityRow, availability
from chaoskit.analysis.churn import ChurnStats, churn
from chaoskit.analysis.codec import DecodeError, from_jsonable, to_jsonable
from chaoskit.analysis.conclusive import conclusiveness
from chaoskit.analysis.evidence import FiringOutcome, RunFacts, SteadyState
from chaoskit.analysis.findings import Finding, FindingContext, FindingRegistry, default_registry
from chaoskit.analysis.findings.model import with_caveat
from chaoskit.analysis.frames import Columns, PhaseSpan, check_requests, phases_from_events, prepare, run_end_ns
from chaoskit.analysis.happenings import happenings
from chaoskit.analysis.health import AgentHealth, agent_health
from chaoskit.analysis.latency import LatencyIndex, LatencyRow, latency, p99_over
from chaoskit.analysis.observation import DEFAULT_QUIET_S, RecoveryObservation, observe
from chaoskit.analysis.recovery import FaultRecovery, recovery
from chaoskit.analysis.stored import NOT_SENT, StoredTable
from chaoskit.analysis.targets import TargetRow, by_target
from chaoskit.analysis.timeline import read_timeline
from chaoskit.analysis.verdict import LATENCY_PHASES, SloTargets, Verdict, judge
from chaoskit.analysis.windows import WindowStats, failure_runs, window_stats
from chaoskit.checks.results import DataCheckResult

CLIENT_CAVEAT: Final = "the load agent fell behind its schedule, so some failures may be the client's"
SCHEMA_VERSION: Final = 2
"""2: windows per address ending at the next success, completion-time attribution, five recovery clocks,
the recovery observation, churn within the phases."""


@dataclass(frozen=True)
class RunSummary:
    """Everything the report, the metrics and the exit code need, computed once from the raw tables."""

    experiment: str
    backend: str
    run_id: str
    aborted: bool
    verdict: Verdict
    slo: SloTargets
    requests: int
    phases: tuple[PhaseSpan, ...]
    availability: tuple[AvailabilityRow, ...]
    windows: tuple[WindowStats, ...]
    """Unavailability windows per service type, over its addresses (windows.py has the definition)."""
    recovery: tuple[FaultRecovery, ...]
    unattributed_failures: int
    """Failed requests that completed before the first fault instant: "before any fault" (baseline noise,
    or every failure of a run without faults)."""
    recovery_observation: RecoveryObservation
    latency: tuple[LatencyRow, ...]
    slo_p99_ms: dict[str, float | None]
    """p99 latency per service type over the phases the latency SLO is judged on."""
    data: tuple[DataCheckResult, ...]
    churn: ChurnStats
    agent: AgentHealth
    by_target: tuple[TargetRow, ...] = ()
    """Per address, when a service type was loaded at several (e.g. a NodePort on every node)."""
    firings: tuple[FiringOutcome, ...] = ()
    """Every scheduled fault firing as it happened: asked, hit, failed (evidence.py)."""
    steady_state: SteadyState | None = None
    """The wait before the baseline until every address answered in a row."""
    happenings: tuple[str, ...] = ()
    """What happened that the numbers alone do not say (happenings.py), one sentence each."""
    findings: tuple[Finding, ...] = ()
    """Why users noticed and what to change, with this run's evidence (analysis/findings/)."""
    schema_version: int = SCHEMA_VERSION

    @property
    def service_types(self) -> tuple[str, ...]:
        return tuple(r.service_type for r in self.availability if r.phase == ALL_PHASES)

    def overall(self, service_type: str) -> AvailabilityRow:
        """The whole-run availability row of one service type."""
        return next(r for r in self.availability if r.service_type == service_type and r.phase == ALL_PHASES)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: key names are the field names; floats are already rounded by the analysis."""
        data: dict[str, Any] = to_jsonable(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        """Rebuild from :meth:`to_dict` output (e.g. summary.json) so a report can be re-rendered."""
        version = data.get("schema_version", 1)
        if version != SCHEMA_VERSION:
            raise DecodeError(
                f"summary schema_version {version}; this chaoskit reads {SCHEMA_VERSION} "
                "(the definitions of windows and recovery clocks changed): analyse the run again"
            )
        return from_jsonable(cls, data)


def summarize(
    requests: pd.DataFrame | StoredTable,
    events: pd.DataFrame,
    data_checks: Sequence[DataCheckResult],
    slo: SloTargets,
    *,
    experiment: str,
    backend: str,
    run_id: str,
    aborted: bool,
    agent: Mapping[str, object] | None,
    facts: RunFacts | None = None,
    quiet_s: float = DEFAULT_QUIET_S,
    rules: FindingRegistry | None = None,
) -> RunSummary:
    """Analyse one run: requests (records.py columns) and events (ClusterEvent columns) in, summary out.

    Requests the load agent never sent (``agent_saturated``) are the client's: they count in the agent's
    health and in the verdict's conclusiveness, not against the service. ``facts``: what the engine knows
    beyond the tables (fault firings, planned load, steady state; evidence.py). ``quiet_s``: how long the
    end of the recovery phase must be free of failures for recovery to count as observed (observation.py).
    ``rules``: the findings rules to judge the run by (default: every built-in rule).
    """
    facts = facts or RunFacts()
    phases = phases_from_events(events)
    table = in_passes(requests)
    cols = table.columns(phases)
    health = agent_health(table.columns(phases, sent_only=False), agent, not_sent=table.not_sent,
                          planned=facts.planned_requests)
    end_ns = run_end_ns(cols, phases)
    runs = failure_runs(cols, end_ns)
    timeline = read_timeline(events)
    index = LatencyIndex(cols)
    judged = [p.name for p in phases if p.name in LATENCY_PHASES] or [p.name for p in phases]
    slo_p99 = p99_over(cols, judged or cols.phases, index=index)
    avail = availability(cols)
    faults, unattributed = recovery(timeline, cols, runs)
    conclusive = conclusiveness(facts, events=events, availability=avail, availability_slo=slo.availability,
                                agent=health, recorded=table.rows)
    verdict = judge(
        slo,
        availability=avail,
        p99_ms=slo_p99,
        recovery=faults,
        data=data_checks,
        agent=health,
        aborted=aborted,
        inconclusive=conclusive.reasons,
        warnings=conclusive.warnings,
    )
    found = (rules or default_registry()).evaluate(FindingContext(
        timeline=timeline, cols=cols, events=events, phases=phases, faults=faults, facts=facts,
        data=tuple(data_checks), slo=slo, run_end_ns=end_ns))
    if health.saturated:
        found = tuple(with_caveat(f, CLIENT_CAVEAT) for f in found)
    return RunSummary(
        experiment=experiment,
        backend=backend,
        run_id=run_id,
        aborted=aborted,
        verdict=verdict,
        slo=slo,
        requests=len(cols),
        phases=phases,
        availability=avail,
        windows=window_stats(cols, runs),
        recovery=faults,
        unattributed_failures=unattributed,
        recovery_observation=observe(cols, runs, phases, quiet_s=quiet_s),
        latency=latency(cols, index=index),
        slo_p99_ms=slo_p99,
        data=tuple(data_checks),
        churn=churn(events, phases),
        agent=health,
        by_target=by_target(cols),
        firings=facts.firings,
        steady_state=facts.steady_state,
        happenings=happenings(events, data_checks, phases),
        findings=found,
    )


class FrameTable:
    """A requests table in memory (tests, saved frames) behind the interface of :class:`stored.StoredTable`."""

    def __init__(self, requests: pd.DataFrame) -> None:
        check_requests(requests)
        self.requests = requests

    @cached_property
    def _split(self) -> tuple[pd.DataFrame, int]:
        return split_not_sent(self.requests)

    @property
    def rows(self) -> int:
        return len(self.requests)

    @property
    def not_sent(self) -> int:
        return self._split[1]

    def columns(self, phases: tuple[PhaseSpan, ...], *, sent_only: bool = True) -> Columns:
        return prepare(self._split[0] if sent_only else self.requests, phases)


def in_passes(requests: pd.DataFrame | StoredTable) -> FrameTable | StoredTable:
    """The analysis's view of a requests table: requests.parquet read in passes, or a frame in memory."""
    return requests if isinstance(requests, StoredTable) else FrameTable(requests)


def split_not_sent(requests: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(the requests that were sent, how many were not: ``agent_saturated``); no copy when all were sent."""
    # Compared on the column as it is (categorical: by code), never as one string per request.
    not_sent = (requests["outcome"] == NOT_SENT).to_numpy(dtype=bool) if len(requests) else None
    count = int(not_sent.sum()) if not_sent is not None else 0
    if not count:
        return requests, 0
    assert not_sent is not None
    return requests.loc[~not_sent].reset_index(drop=True), count
