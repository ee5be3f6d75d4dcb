"""RunMetrics on a per-run registry: live counters and histogram from record batches, final values from a summary."""

from __future__ import annotations

import pandas as pd
import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from chaoskit import __version__
from chaoskit.analysis.summary import RunSummary, summarize
from chaoskit.analysis.synthetic import (
    Outage,
    PodDeleteScript,
    events_frame,
    pod_delete_events,
    requests_from,
    synthetic_requests,
)
from chaoskit.analysis.verdict import SloTargets
from chaoskit.checks.results import DataCheckResult
from chaoskit.cluster.protocol import ClusterEvent, EventKind
from chaoskit.load.records import OUTCOME_LABELS
from chaoskit.metrics import MetricsError, MetricsSession, RunMetrics, fault_of, pushgateway_url
from chaoskit.metrics.names import LATENCY_BUCKETS_S
from tests.local.engine_support import experiment

pytestmark = pytest.mark.unit

PHASES = [("baseline", 2.0), ("chaos", 6.0), ("recovery", 2.0)]


def samples(metrics: RunMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every exposed sample as (name, labels) -> value, parsed back from the text exposition."""
    text = generate_latest(metrics.registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(metrics: RunMetrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, frozenset({"experiment": metrics.experiment, **labels}.items()))]


def test_requests_are_counted_by_outcome_and_service_type() -> None:
    metrics = RunMetrics("exp")
    metrics.on_records(requests_from([1, 2, 3, 4], [True, False, True, True], service_type="ClusterIP"))
    metrics.on_records(requests_from([5, 6], [False, False], service_type="NodePort", outcome="reset"))
    ok = value(metrics, "chaoskit_requests_total", service="chaoskit-target", service_type="ClusterIP", outcome="ok")
    refused = value(metrics, "chaoskit_requests_total", service="chaoskit-target", service_type="ClusterIP",
                    outcome="refused")
    reset = value(metrics, "chaoskit_requests_total", service="chaoskit-target-nodeport", service_type="NodePort",
                  outcome="reset")
    assert (ok, refused, reset) == (3, 1, 2)
    assert metrics.requests.total() == 6


def test_histogram_buckets_are_cumulative_and_count_only_successes() -> None:
    metrics = RunMetrics("exp")
    latencies = [1_000_000, 1_000_001, 30_000_000, 20_000_000_000, 5_000]  # 1 ms, just over, 30 ms, 20 s, failure
    metrics.on_records(requests_from([1, 2, 3, 4, 5], [True, True, True, True, False], latency_ns=latencies))
    labels = {"service": "chaoskit-target", "service_type": "ClusterIP"}
    bucket = {le: value(metrics, "chaoskit_request_duration_seconds_bucket", le=le, **labels)
              for le in ("0.001", "0.0025", "0.05", "10.0", "+Inf")}
    assert bucket == {"0.001": 1, "0.0025": 2, "0.05": 3, "10.0": 3, "+Inf": 4}  # le is inclusive
    assert value(metrics, "chaoskit_request_duration_seconds_count", **labels) == 4
    assert value(metrics, "chaoskit_request_duration_seconds_sum", **labels) == pytest.approx(20.032000001)


def test_buckets_span_one_millisecond_to_ten_seconds() -> None:
    assert LATENCY_BUCKETS_S[0] == 0.001 and LATENCY_BUCKETS_S[-1] == 10.0
    assert list(LATENCY_BUCKETS_S) == sorted(set(LATENCY_BUCKETS_S))


def test_series_of_the_spec_exist_before_any_request() -> None:
    metrics = RunMetrics.for_experiment(experiment("pod-recreate"))
    exposed = samples(metrics)
    for outcome in OUTCOME_LABELS:
        key = ("chaoskit_requests_total", frozenset({"experiment": "pod-recreate", "service": "chaoskit-target",
                                                     "service_type": "ClusterIP", "outcome": outcome}.items()))
        assert exposed[key] == 0
    assert value(metrics, "chaoskit_faults_injected_total", fault="delete-one-pod") == 0


def test_a_fault_instance_counts_once_however_many_victims() -> None:
    metrics = RunMetrics("exp", faults=["kill"])
    for name in ("kill#1", "kill#1", "kill#2"):
        metrics.on_event(ClusterEvent(1, EventKind.FAULT_BEGIN, name=name))
    metrics.on_event(ClusterEvent(2, EventKind.FAULT_END, name="kill#2"))
    assert value(metrics, "chaoskit_faults_injected_total", fault="kill") == 2
    assert fault_of("delete-one-pod#12") == "delete-one-pod"


def test_phase_gauge_marks_only_the_current_phase() -> None:
    metrics = RunMetrics("exp")
    assert value(metrics, "chaoskit_experiment_phase", phase="setup") == 1
    metrics.on_phase("chaos", 0)
    current = {p: value(metrics, "chaoskit_experiment_phase", phase=p) for p in ("setup", "baseline", "chaos")}
    assert current == {"setup": 0, "baseline": 0, "chaos": 1}


def test_registries_are_per_run() -> None:
    first, second = RunMetrics("exp"), RunMetrics("exp")
    first.on_records(requests_from([1], [True]))
    assert first.registry is not second.registry
    assert second.requests.total() == 0
    assert not any(name == "chaoskit_requests_total" and v for (name, _), v in samples(second).items())


def test_empty_batches_change_nothing() -> None:
    metrics = RunMetrics("exp")
    metrics.on_records(requests_from([], []))
    assert metrics.requests.total() == 0


def run_summary(*, data: list[DataCheckResult] | None = None) -> RunSummary:
    requests = synthetic_requests(duration_s=10, rate=100, outages=[Outage("ClusterIP", 3.0, 3.5)])
    events = events_frame(pod_delete_events(PodDeleteScript(fault_at_s=[3.0, 6.0]), phases=PHASES))
    return summarize(requests, events, data or [], SloTargets(availability=0.99), experiment="exp",
                     backend="local", run_id="20260101-000000-exp", aborted=False, agent=None)


def check(volume_type: str, placement: str, survived: bool, expected: str) -> DataCheckResult:
    return DataCheckResult(volume="v", volume_type=volume_type, fault="pod-delete", trigger="pod-replaced",
                           placement=placement, survived=survived, expected=expected, victim="a", replacement="b",
                           victim_node="n1", replacement_node="n1")


def test_finalize_exports_the_summary() -> None:
    data = [check("hostPath", "same-node", True, "survives"), check("hostPath", "same-node", False, "survives"),
            check("emptyDir", "other-node", False, "lost")]
    summary = run_summary(data=data)
    metrics = RunMetrics("exp")
    metrics.finalize(summary)
    assert metrics.finalized
    first = summary.recovery[0]
    assert value(metrics, "chaoskit_recovery_seconds", fault=first.name, clock="replacement_ready") == (
        first.replacement_ready_s)
    assert value(metrics, "chaoskit_recovery_seconds", fault=first.name, clock="last_failure") == first.last_failure_s
    assert value(metrics, "chaoskit_recovery_seconds", fault=first.name, clock="replacement_scheduled") == (
        first.replacement_scheduled_s)
    assert value(metrics, "chaoskit_recovery_seconds", fault=first.name, clock="traffic_recovered") == (
        first.traffic_recovered_s) is not None
    second = summary.recovery[1]  # caused no failure: its request clocks have no value, so no series
    assert second.failures == 0
    labels = frozenset({"experiment": "exp", "fault": second.name, "clock": "last_failure"}.items())
    assert ("chaoskit_recovery_seconds", labels) not in samples(metrics)
    windows = next(w for w in summary.windows if w.service_type == "ClusterIP")
    assert value(metrics, "chaoskit_error_window_seconds", service_type="ClusterIP") == windows.unavailable_s > 0
    assert value(metrics, "chaoskit_error_windows", service_type="ClusterIP") == windows.count
    assert value(metrics, "chaoskit_error_window_longest_seconds", service_type="NodePort") == 0
    for row in summary.availability:
        ratio = value(metrics, "chaoskit_availability_ratio", service_type=row.service_type, phase=row.phase)
        assert ratio == row.ratio
    same = {"volume_type": "hostPath", "fault": "pod-delete", "placement": "same-node"}
    assert value(metrics, "chaoskit_data_survived", **same) == 0.5
    assert value(metrics, "chaoskit_data_checks", **same) == 2
    assert value(metrics, "chaoskit_data_as_expected", **same) == 0
    assert value(metrics, "chaoskit_data_as_expected", volume_type="emptyDir", fault="pod-delete",
                 placement="other-node") == 1
    assert value(metrics, "chaoskit_experiment_verdict") == (1.0 if summary.verdict.passed else 0.0)
    assert value(metrics, "chaoskit_experiment_phase", phase="done") == 1


def test_the_run_id_is_only_on_the_info_metric() -> None:
    metrics = RunMetrics("exp", backend="local")
    metrics.on_records(requests_from([1], [True]))
    metrics.finalize(run_summary())
    with_run_id = {name for (name, labels), _ in samples(metrics).items() if any(k == "run_id" for k, _ in labels)}
    assert with_run_id == {"chaoskit_run_info"}
    assert value(metrics, "chaoskit_run_info", run_id="20260101-000000-exp", backend="local", version=__version__) == 1


def test_push_needs_a_run_id() -> None:
    with pytest.raises(MetricsError, match="no run id"):
        RunMetrics("exp").push("http://127.0.0.1:1")


@pytest.mark.parametrize(("given", "url"), [("127.0.0.1:9091", "http://127.0.0.1:9091"),
                                            ("http://gw:9091/", "http://gw:9091"),
                                            ("https://gw.example/prefix", "https://gw.example/prefix")])
def test_pushgateway_url_accepts(given: str, url: str) -> None:
    assert pushgateway_url(given) == url


@pytest.mark.parametrize("given", ["ftp://gw:21", "http://", "http://gw:notaport"])
def test_pushgateway_url_rejects(given: str) -> None:
    with pytest.raises(ValueError):
        pushgateway_url(given)


def test_a_bad_pushgateway_is_refused_before_the_run() -> None:
    with pytest.raises(MetricsError, match="not an http"):
        MetricsSession(experiment("pod-recreate"), backend="local", pushgateway="ftp://gw")


def test_nothing_asked_means_no_metrics() -> None:
    session = MetricsSession(experiment("pod-recreate"), backend="local")
    with session:
        assert session.metrics is None and session.server is None
    session.finish(run_summary())  # no metrics: nothing to finalize, nothing pushed


def test_records_with_string_columns_are_counted_too() -> None:
    frame = requests_from([1, 2], [True, False])
    plain = frame.assign(**{c: frame[c].astype(str) for c in ("service", "service_type", "outcome")})
    assert not isinstance(plain["service"].dtype, pd.CategoricalDtype)
    metrics = RunMetrics("exp")
    metrics.on_records(pd.DataFrame(plain))
    assert metrics.requests.total() == 2
