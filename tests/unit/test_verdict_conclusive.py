"""INCONCLUSIVE: a run that cannot support a claim says so, first, instead of passing or failing.

Synthetic runs (analysis/synthetic.py): a fault that hit nothing, fewer pods than asked, or left no trace in the
events; a baseline already below the SLO; a load agent that did not send or record its plan, or fell behind.
"""

from __future__ import annotations

import pandas as pd
import pytest

from chaoskit.analysis import RunSummary, SloTargets, summarize
from chaoskit.analysis.evidence import FiringOutcome, RunFacts, SteadyState
from chaoskit.analysis.synthetic import (
    T0_NS,
    Outage,
    PodDeleteScript,
    events_frame,
    pod_delete_events,
    synthetic_requests,
)
from chaoskit.analysis.verdict import Outcome
from chaoskit.cli.run import exit_code
from chaoskit.report.evidence import headline
from chaoskit.vocab import EventKind

pytestmark = pytest.mark.unit
PHASES = [("baseline", 5.0), ("chaos", 20.0), ("recovery", 8.0)]
FAULTS_AT = (11.0, 17.0)
SLO = SloTargets(availability=0.99)


def _firing(k: int, **changes: object) -> FiringOutcome:
    at = T0_NS + int(FAULTS_AT[k] * 1e9)
    fields: dict[str, object] = {"instance": f"pod-delete-0#{k}", "kind": "pod-delete", "scheduled_ns": at,
                                 "begun_ns": at, "victims_asked": 1, "victims": (f"chaoskit-target-5d8f-p{k}",)}
    return FiringOutcome(**{**fields, **changes})  # type: ignore[arg-type]


def _facts(*firings: FiringOutcome, planned: int | None = 6600) -> RunFacts:
    chosen = firings or (_firing(0), _firing(1))
    return RunFacts(firings=chosen, planned_firings=2, planned_requests=planned,
                    steady_state=SteadyState(True, 0.2, 3, ("ClusterIP 127.1.254.1:80",)))


def run(facts: RunFacts, *, outages: list[Outage] | None = None, requests: pd.DataFrame | None = None,
        slo: SloTargets = SLO) -> RunSummary:
    table = requests if requests is not None else synthetic_requests(duration_s=33, rate=100, outages=outages or [])
    events = events_frame(pod_delete_events(PodDeleteScript(FAULTS_AT), phases=PHASES))
    return summarize(table, events, [], slo, experiment="pod-recreate", backend="local", run_id="r-1",
                     aborted=False, agent=None, facts=facts)


def test_a_run_whose_faults_happened_and_whose_load_was_delivered_is_conclusive() -> None:
    summary = run(_facts())
    assert summary.verdict.outcome == Outcome.PASS and summary.verdict.inconclusive == ()
    assert exit_code(summary.verdict.outcome) == 0


def test_a_fault_that_hit_nothing_makes_the_run_inconclusive_not_a_pass() -> None:
    summary = run(_facts(_firing(0), _firing(1, victims=(), begun_ns=None)))
    assert summary.verdict.outcome == Outcome.INCONCLUSIVE and not summary.verdict.passed
    (reason,) = summary.verdict.inconclusive
    assert reason.startswith("fault pod-delete-0#1 (pod-delete) hit no pod")
    assert headline(summary).startswith("INCONCLUSIVE: fault pod-delete-0#1 (pod-delete) hit no pod")
    assert exit_code(summary.verdict.outcome) == 4


def test_fewer_victims_than_asked_a_failed_injection_and_a_missing_firing_are_each_said() -> None:
    facts = RunFacts(firings=(_firing(0, victims_asked=2), _firing(1, error="injection failed: node x not found")),
                     planned_firings=3, planned_requests=6600)
    reasons = run(facts).verdict.inconclusive
    assert "1 of 3 scheduled fault firings never ran" in reasons
    assert any("hit 1 pod(s), 2 were asked for" in r for r in reasons)
    assert any("was not injected: injection failed: node x not found" in r for r in reasons)


def test_a_victim_with_no_event_after_the_fault_is_not_taken_for_granted() -> None:
    ghost = _firing(1, victims=("someone-else",))
    (reason,) = run(_facts(_firing(0), ghost)).verdict.inconclusive
    assert "no event shows someone-else affected" in reason


def test_a_baseline_below_the_slo_means_no_steady_state_even_when_chaos_fails() -> None:
    outages = [Outage("ClusterIP", 1.0, 3.0), Outage("ClusterIP", 11.0, 12.0)]
    summary = run(_facts(), outages=outages)
    assert summary.verdict.outcome == Outcome.INCONCLUSIVE
    assert any(r.startswith("steady state not held: the baseline of ClusterIP") for r in summary.verdict.inconclusive)
    assert summary.verdict.reasons, "the failed availability check is still listed"


def test_without_an_availability_slo_baseline_failures_only_warn() -> None:
    summary = run(_facts(), outages=[Outage("ClusterIP", 1.0, 1.5)], slo=SloTargets())
    assert summary.verdict.outcome == Outcome.PASS
    assert any("failed in the baseline, before any fault" in w for w in summary.verdict.warnings)


def test_requests_the_agent_never_sent_are_the_clients_not_the_services() -> None:
    table = synthetic_requests(duration_s=33, rate=100)
    outcome = table["outcome"].astype(str)
    chosen = table.index[(table["scheduled_ns"] > T0_NS + 12 * 10**9) & (table["service_type"] == "ClusterIP")][:40]
    outcome.loc[chosen] = "agent_saturated"
    table["outcome"] = outcome.astype("category")
    table.loc[chosen, "ok"] = False
    summary = run(_facts(), requests=table)
    assert summary.agent.not_sent == 40
    assert summary.overall("ClusterIP").failed == 0  # not counted against the service
    assert summary.overall("ClusterIP").requests == 3300 - 40
    assert any("did not send 40 of 6600" in r for r in summary.verdict.inconclusive)


def test_fewer_records_than_planned_means_the_load_was_not_delivered() -> None:
    reasons = run(_facts(planned=8000)).verdict.inconclusive
    assert any("recorded 6600 of 8000 planned requests" in r for r in reasons)


def test_a_worker_that_died_makes_the_run_inconclusive_with_its_reason() -> None:
    import dataclasses

    problem = "worker 2 of 2 died 1.0 s into the load (SIGKILL): 3300 of its requests never ran"
    summary = run(dataclasses.replace(_facts(), load_problems=(problem,)))
    assert summary.verdict.outcome == Outcome.INCONCLUSIVE
    assert f"the load was not delivered: {problem}" in summary.verdict.inconclusive
    assert exit_code(summary.verdict.outcome) == 4


def test_a_late_agent_is_inconclusive() -> None:
    table = synthetic_requests(duration_s=33, rate=100, lag_ms=300.0)
    reasons = run(_facts(), requests=table).verdict.inconclusive
    assert any("started requests late (p99 start lag" in r for r in reasons)


def test_a_control_run_without_faults_is_conclusive() -> None:
    events = [e for e in pod_delete_events(PodDeleteScript(()), phases=PHASES) if e.kind != EventKind.FAULT_BEGIN]
    summary = summarize(synthetic_requests(duration_s=33, rate=100), events_frame(events), [], SLO,
                        experiment="control", backend="local", run_id="r-2", aborted=False, agent=None,
                        facts=RunFacts(planned_requests=6600))
    assert summary.verdict.outcome == Outcome.PASS


def test_aborted_wins_over_everything() -> None:
    table = synthetic_requests(duration_s=33, rate=100)
    events = events_frame(pod_delete_events(PodDeleteScript(FAULTS_AT), phases=PHASES))
    summary = summarize(table, events, [], SLO, experiment="x", backend="local", run_id="r", aborted=True,
                        agent=None, facts=_facts(_firing(0, victims=())))
    assert summary.verdict.outcome == Outcome.ABORTED and exit_code(summary.verdict.outcome) == 130
