"""The rules about a pod's end: shutdown race, grace-period cut, stale conntrack; on synthetic runs with known
answers, with the flaw absent (no finding) and with thin evidence (lower confidence)."""

from __future__ import annotations

import math

import pytest
import yaml

from chaoskit.vocab import EventKind
from tests.unit.findings_frames import END_S, Cluster, analyse, deployment, facts, only, requests, rules

pytestmark = pytest.mark.unit
PODS = (("web-5d8f-a", "10.0.0.1", "n1"), ("web-5d8f-b", "10.0.0.2", "n2"), ("web-5d8f-c", "10.0.0.3", "n3"))


def _deleted(*, sync_s: float = 0.4, data_path: bool = True) -> Cluster:
    """Three pods; web-5d8f-a deleted at t=3 s; the proxy forgets it ``sync_s`` later; its replacement."""
    cluster = Cluster()
    for name, ip, node in PODS:
        cluster.pod(name, ip, node)
        if not data_path:
            cluster.endpoint(-3, name, added=True)
    cluster.pod("web-5d8f-d", "10.0.0.4", "n1", scheduled_s=3.01, running_s=3.3, ready_s=3.5)
    if data_path:
        cluster.synced(-2, "web-5d8f-a", "web-5d8f-b", "web-5d8f-c")
    cluster.fault(3, "delete#1", "pod-delete", ["web-5d8f-a"])
    cluster.terminate(3, "web-5d8f-a")
    if data_path:
        cluster.synced(3 + sync_s, "web-5d8f-b", "web-5d8f-c")
        cluster.synced(4, "web-5d8f-b", "web-5d8f-c", "web-5d8f-d")
    else:
        cluster.endpoint(3.001, "web-5d8f-a", added=False)
        cluster.endpoint(3.5, "web-5d8f-d", added=True)
    cluster.terminate(END_S + 0.5, "web-5d8f-b")  # teardown: not the experiment's
    return cluster


def _racing(t: float) -> bool:
    """Every third new connection between the delete and the sync reaches the stopped pod."""
    return 3.0 <= t <= 3.4 and round(t * 100) % 3 == 0


def test_failures_between_termination_and_the_sync_are_the_shutdown_race() -> None:
    summary = analyse(requests(_racing), _deleted(), facts(deployment(grace=30)))
    race = only(summary, "shutdown-race")
    expected = sum(1 for i in range(1400) if _racing(i / 100))
    assert race.evidence.failures == race.evidence.of_failures == expected
    assert race.evidence.pods == ("web-5d8f-a",) and race.evidence.faults == ("delete#1",)
    assert race.evidence.measured["propagation_max_s"] == pytest.approx(0.4)
    assert race.evidence.measured["recommended_sleep_s"] == math.ceil(0.4 + 1.0)
    assert any("over 1 termination(s)" in line for line in race.evidence.lines)  # teardown's is not counted
    assert race.confidence == "high" and race.workload == "Deployment web"
    assert "no preStop sleep (terminationGracePeriodSeconds 30)" in race.evidence.lines[-1]
    patch = yaml.safe_load(race.snippet)
    assert patch["kind"] == "Deployment" and patch["metadata"]["name"] == "web"
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container == {"name": "httpd", "lifecycle": {"preStop": {"sleep": {"seconds": 2}}}}
    assert "terminationGracePeriodSeconds" not in patch["spec"]["template"]["spec"]


def test_a_short_grace_period_is_raised_with_the_sleep() -> None:
    race = only(analyse(requests(_racing), _deleted(), facts(deployment(grace=1))), "shutdown-race")
    assert yaml.safe_load(race.snippet)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 2 + 5


def test_a_prestop_sleep_longer_than_the_propagation_means_no_race() -> None:
    summary = analyse(requests(_racing), _deleted(), facts(deployment(pre_stop_s=2)))
    assert "shutdown-race" not in rules(summary)


def test_a_prestop_sleep_shorter_than_the_propagation_is_named() -> None:
    late = analyse(requests(lambda t: 3.2 <= t <= 3.4), _deleted(), facts(deployment(pre_stop_s=0.1)))
    race = only(late, "shutdown-race")
    assert "sleeps 0.1 s in preStop" in race.evidence.lines[-1]


def test_no_failure_no_finding_and_thin_evidence_is_low_confidence() -> None:
    assert "shutdown-race" not in rules(analyse(requests(lambda t: False), _deleted(), facts(deployment())))
    two = analyse(requests(lambda t: t in (3.1, 3.2)), _deleted(), facts(deployment()))
    assert only(two, "shutdown-race").confidence == "low"


def test_failures_elsewhere_lower_the_confidence() -> None:
    summary = analyse(requests(lambda t: _racing(t) or 8 <= t < 9), _deleted(), facts(deployment()))
    race = only(summary, "shutdown-race")
    assert race.evidence.failures < race.evidence.of_failures and race.confidence == "low"


def test_on_the_control_plane_the_window_is_the_removal_plus_an_allowance_and_says_so() -> None:
    summary = analyse(requests(lambda t: 3.0 <= t <= 3.9 and round(t * 100) % 3 == 0, outcome="connect_timeout"),
                      _deleted(data_path=False), facts(deployment()))
    race = only(summary, "shutdown-race")
    assert race.confidence == "medium" and "not observable" in race.confidence_basis
    assert race.evidence.measured["propagation_max_s"] == pytest.approx(3.9 - 3.0, abs=0.011)
    assert race.evidence.measured["recommended_sleep_s"] == 2


def test_without_manifests_the_finding_stands_less_confident() -> None:
    race = only(analyse(requests(_racing), _deleted()), "shutdown-race")
    assert race.confidence == "medium" and "manifests were not available" in race.confidence_basis
    assert yaml.safe_load(race.snippet)["metadata"]["name"] == "web"  # from the pod names


def _killed(deleted_s: float) -> Cluster:
    cluster = _deleted()
    cluster.events = [e for e in cluster.events if e.kind.value not in ("pod_terminating", "pod_deleted")]
    cluster.terminate(3, "web-5d8f-a", grace=2, deleted_s=deleted_s)
    return cluster


def test_requests_in_flight_at_the_end_of_the_grace_period_were_cut() -> None:
    slow = requests(lambda t: 4.2 <= t <= 4.95, latency_ms=900, every_ms=50)  # ends after the kill at 5 s
    cut = only(analyse(slow, _killed(5.01), facts(deployment(grace=2))), "grace-period-cut")
    assert cut.evidence.failures == 16 and cut.evidence.measured["grace_period_s"] == 2
    assert cut.evidence.measured["in_flight_max_s"] == pytest.approx(0.8)
    assert yaml.safe_load(cut.snippet)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 1 + 5
    assert cut.confidence == "medium"  # which pod served a request is not recorded


def test_a_pod_that_stopped_before_its_grace_period_cut_nothing() -> None:
    slow = requests(lambda t: 4.2 <= t <= 4.95, latency_ms=900, every_ms=50)
    assert "grace-period-cut" not in rules(analyse(slow, _killed(3.5), facts(deployment(grace=2))))


def _stale(t: float) -> bool:
    return t in (6.0, 8.5, 11.0)


def test_sporadic_connect_timeouts_long_after_the_removal_point_at_stale_conntrack() -> None:
    summary = analyse(requests(_stale, outcome="connect_timeout", latency_ms=2000), _deleted(data_path=False),
                      facts(deployment()))
    stale = only(summary, "stale-conntrack")
    assert stale.evidence.failures == 3 and stale.confidence == "medium" and stale.snippet == ""
    assert stale.evidence.measured["first_after_removal_s"] == pytest.approx(6.0 - 5.001, abs=1e-6)
    assert "101607" in stale.references[0]


def test_refusals_or_an_outage_are_not_stale_conntrack() -> None:
    refused = analyse(requests(_stale, outcome="refused"), _deleted(data_path=False), facts(deployment()))
    assert "stale-conntrack" not in rules(refused)
    dark = _deleted(data_path=False)
    for name in ("web-5d8f-b", "web-5d8f-c", "web-5d8f-d"):
        dark.add(5.5, EventKind.POD_NOT_READY, name)
    outage = analyse(requests(lambda t: 6 <= t < 12, outcome="connect_timeout"), dark, facts(deployment()))
    assert "stale-conntrack" not in rules(outage)



def test_connect_timeouts_inside_another_pods_race_are_the_race_not_stale_conntrack() -> None:
    twice = _deleted(data_path=False)
    twice.fault(9, "delete#2", "pod-delete", ["web-5d8f-b"])
    twice.terminate(9, "web-5d8f-b")
    twice.endpoint(9.001, "web-5d8f-b", added=False)
    summary = analyse(requests(lambda t: t in (9.5, 10.0, 10.5), outcome="connect_timeout"), twice,
                      facts(deployment()))
    assert "stale-conntrack" not in rules(summary)
    assert only(summary, "shutdown-race").evidence.failures == 3
