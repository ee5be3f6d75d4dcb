"""summarize() end to end on a synthetic run, the verdict's reasons, and the summary.json round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest

from chaoskit.analysis import RunSummary, SloTargets, summarize
from chaoskit.analysis.codec import DecodeError
from chaoskit.analysis.synthetic import (
    Outage,
    PodDeleteScript,
    events_frame,
    pod_delete_events,
    requests_from,
    synthetic_requests,
)
from chaoskit.checks.results import DataCheckResult
from chaoskit.cluster.protocol import ClusterEvent, EventKind

pytestmark = pytest.mark.unit
PHASES = [("baseline", 5.0), ("chaos", 20.0), ("recovery", 8.0)]


def data_check(*, survived: bool, expected: str, placement: str = "same-node") -> DataCheckResult:
    return DataCheckResult(
        volume="node-data", volume_type="hostPath", fault="pod-delete", trigger="pod-replaced",
        placement=placement, survived=survived, expected=expected, victim="web-a", replacement="web-b",
        victim_node="n1", replacement_node="n1" if placement == "same-node" else "n2",
    )  # fmt: skip


def run(
    slo: SloTargets,
    *,
    outages: list[Outage] | None = None,
    script: PodDeleteScript | None = None,
    data: list[DataCheckResult] | None = None,
    aborted: bool = False,
    agent: dict[str, object] | None = None,
) -> RunSummary:
    requests = synthetic_requests(duration_s=33, rate=100, outages=outages or [])
    timeline = pod_delete_events(script or PodDeleteScript((11.0, 17.0)), phases=PHASES)
    run_end = max(e.ts_ns for e in timeline if e.kind == EventKind.PHASE)
    # The engine records events only while the run lasts: what happens later is never seen.
    events = events_frame([e for e in timeline if e.ts_ns <= run_end])
    return summarize(
        requests, events, data or [], slo,
        experiment="pod-recreate", backend="local", run_id="r-1", aborted=aborted, agent=agent,
    )  # fmt: skip


def test_a_clean_run_passes_every_slo() -> None:
    summary = run(SloTargets(availability=0.999, p99_latency_s=0.5, recovery_s=10.0, data=True),
                  data=[data_check(survived=True, expected="survives")])  # fmt: skip
    assert summary.verdict.passed
    assert summary.verdict.reasons == ()
    assert {c.slo for c in summary.verdict.checks} == {"availability", "p99_latency", "recovery", "data"}
    assert all(summary.overall(t).ratio == 1.0 for t in summary.service_types)
    assert all(w.count == 0 for w in summary.windows)
    assert [f.replacement_ready_s for f in summary.recovery] == [1.0, 1.0]
    assert [f.endpoints_converged_s for f in summary.recovery] == [1.3, 1.3]
    assert summary.churn.pods_created == 2
    assert summary.churn.pods_deleted == 2
    assert summary.churn.distinct_pod_ips == 5
    assert not summary.churn.ips_reused


def test_each_violated_slo_gives_its_own_reason() -> None:
    summary = run(
        SloTargets(availability=0.999, p99_latency_s=0.001, recovery_s=1.0, data=True),
        outages=[Outage("ClusterIP", 11.0, 11.5)],
        data=[data_check(survived=True, expected="lost", placement="other-node")],
        aborted=True,
    )
    reasons = summary.verdict.reasons
    assert not summary.verdict.passed
    assert reasons[0] == "aborted before the experiment finished"
    assert any(r.startswith("availability ClusterIP: 98.485% < 99.900% (50 of 3300 failed)") for r in reasons)
    assert not any(r.startswith("availability NodePort") for r in reasons)
    assert sum(r.startswith("p99 latency") for r in reasons) == 2
    assert any(r.startswith("recovery pod-delete-0#0: 1.3 s on endpoints_converged > 1 s") for r in reasons)
    assert any("node-data (hostPath) after pod-delete, other-node: survived, expected lost" in r for r in reasons)


def test_never_recovered_fails_the_recovery_slo() -> None:
    summary = run(SloTargets(recovery_s=10.0), script=PodDeleteScript((11.0,), replacement_ready_s=50.0))
    (fault,) = summary.recovery
    assert fault.replacement_ready_s is None
    assert "replacement_ready" in fault.never_recovered
    assert summary.verdict.reasons == (
        "recovery pod-delete-0#0: never recovered on replacement_ready, endpoints_converged",
    )


def test_unset_slos_are_not_checked_and_data_can_be_waived() -> None:
    summary = run(SloTargets(data=False), outages=[Outage("NodePort", 1, 30)],
                  data=[data_check(survived=False, expected="survives")])  # fmt: skip
    assert summary.verdict.passed
    assert summary.verdict.checks == ()


def test_a_saturated_agent_warns_without_failing() -> None:
    summary = run(SloTargets(availability=0.9), agent={"saturated": True, "cpu_utilisation": 0.97})
    assert summary.verdict.passed
    assert len(summary.verdict.warnings) == 1
    assert "load agent near saturation" in summary.verdict.warnings[0]


def test_summary_round_trips_through_json() -> None:
    summary = run(
        SloTargets(availability=0.999, p99_latency_s=0.5, recovery_s=1.0),
        outages=[Outage("ClusterIP", 11.0, 11.5), Outage("NodePort", 17, 17.2, every=2)],
        data=[data_check(survived=False, expected="lost")],
        agent={"cpu_utilisation": 0.4, "exit_code": 0},
    )
    text = json.dumps(summary.to_dict(), sort_keys=True)
    again = RunSummary.from_dict(json.loads(text))
    assert again == summary
    assert json.dumps(again.to_dict(), sort_keys=True) == text
    assert list(summary.to_dict())[:4] == ["experiment", "backend", "run_id", "aborted"]


def test_from_dict_rejects_unknown_and_missing_keys() -> None:
    data = run(SloTargets()).to_dict()
    with pytest.raises(DecodeError, match="unknown keys"):
        RunSummary.from_dict({**data, "surprise": 1})
    del data["verdict"]
    with pytest.raises(DecodeError, match=r"missing keys \['verdict'\]"):
        RunSummary.from_dict(data)


def test_pod_ip_reuse_is_detected() -> None:
    script = PodDeleteScript((11.0,))
    events = pod_delete_events(script, phases=PHASES)
    reused = dataclasses.replace(events[-1], ts_ns=events[-1].ts_ns + 1, kind=EventKind.POD_ADDED,
                                 name="web-zzz", ip="10.0.0.1")  # fmt: skip
    summary = summarize(
        synthetic_requests(duration_s=33), events_frame([*events, reused]), [], SloTargets(),
        experiment="x", backend="local", run_id="r", aborted=False, agent=None,
    )  # fmt: skip
    assert summary.churn.ips_reused
    assert summary.churn.reused_ips == ("10.0.0.1",)


def test_no_phase_events_puts_every_request_outside_and_still_judges() -> None:
    events = events_frame([ClusterEvent(0, EventKind.POD_ADDED, name="web-a", ip="10.0.0.9")])
    summary = summarize(
        synthetic_requests(duration_s=5), events, [], SloTargets(availability=0.5, p99_latency_s=1.0),
        experiment="x", backend="local", run_id="r", aborted=False, agent=None,
    )  # fmt: skip
    assert summary.phases == ()
    assert {r.phase for r in summary.availability} == {"outside", "all"}
    assert summary.verdict.passed
    assert all(v is not None for v in summary.slo_p99_ms.values())


def test_data_check_expectations() -> None:
    assert data_check(survived=True, expected="survives").as_expected
    assert data_check(survived=False, expected="lost").as_expected
    assert data_check(survived=False, expected="any").as_expected
    assert not data_check(survived=False, expected="survives").as_expected
    assert not data_check(survived=True, expected="lost").as_expected


def test_an_availability_slo_fails_when_nothing_was_measured() -> None:
    empty = requests_from([], [])
    summary = summarize(
        empty, events_frame([]), [], SloTargets(availability=0.9),
        experiment="x", backend="local", run_id="r", aborted=False, agent=None,
    )  # fmt: skip
    assert summary.requests == 0
    assert summary.verdict.reasons == ("availability: no requests were measured",)
    # A service type that is known but got no requests fails on its own line.
    known = summarize(
        synthetic_requests(duration_s=0), events_frame([]), [], SloTargets(availability=0.9),
        experiment="x", backend="local", run_id="r", aborted=False, agent=None,
    )  # fmt: skip
    assert len(known.verdict.reasons) == 2
    assert known.verdict.reasons[0].startswith("availability ClusterIP: no requests")


def test_failures_into_the_last_second_of_recovery_mean_recovery_was_not_observed() -> None:
    # Recovery runs 25..33 s; NodePort fails from 32.5 s to the end of the run.
    summary = run(SloTargets(recovery_s=10.0), outages=[Outage("NodePort", 32.5, 40.0)])
    observed = summary.recovery_observation
    assert observed.phase == "recovery"
    assert observed.recovery_observed is False
    assert observed.last_failure_to_end_s is not None and 0 <= observed.last_failure_to_end_s < 0.1
    assert observed.open_windows == 1
    nodeport = next(w for w in summary.windows if w.service_type == "NodePort")
    assert nodeport.open == 1 and nodeport.longest is not None and nodeport.longest.open


def test_quiet_end_of_recovery_is_observed_and_the_quiet_period_is_a_parameter() -> None:
    summary = run(SloTargets(), outages=[Outage("ClusterIP", 30.0, 31.0)])
    assert summary.recovery_observation.recovery_observed is True
    assert summary.recovery_observation.last_failure_to_end_s == pytest.approx(2.0, abs=0.02)
    requests = synthetic_requests(duration_s=33, rate=100, outages=[Outage("ClusterIP", 30.0, 31.0)])
    events = events_frame(pod_delete_events(PodDeleteScript((11.0,)), phases=PHASES))
    strict = summarize(requests, events, [], SloTargets(), experiment="x", backend="local", run_id="r",
                       aborted=False, agent=None, quiet_s=3.0)  # fmt: skip
    assert strict.recovery_observation.recovery_observed is False


def test_an_address_failing_until_the_end_fails_the_recovery_slo_as_never() -> None:
    summary = run(SloTargets(recovery_s=10.0), outages=[Outage("NodePort", 17.05, 40.0)])
    last = summary.recovery[-1]
    assert "traffic_recovered" in last.never_recovered
    assert last.unrecovered_addresses == ("NodePort",)
    assert last.last_failure_s is not None and last.last_failure_s > 15.0  # seen failing until the end
    assert any(r.startswith("recovery pod-delete-0#1: never recovered on traffic_recovered (NodePort failing")
               for r in summary.verdict.reasons)  # fmt: skip


def test_a_summary_of_another_schema_version_is_refused_with_a_reason() -> None:
    data = run(SloTargets()).to_dict()
    with pytest.raises(DecodeError, match="schema_version 1; this chaoskit reads 2"):
        RunSummary.from_dict({**data, "schema_version": 1})
