"""Pod churn counted within the phases, and what "distinct pods" means."""

from __future__ import annotations

import pytest

from chaoskit.analysis.churn import churn
from chaoskit.analysis.frames import phases_from_events
from chaoskit.analysis.synthetic import T0_NS, events_frame, phase_events
from chaoskit.cluster.protocol import ClusterEvent, EventKind

pytestmark = pytest.mark.unit
S = 1_000_000_000
K = EventKind


def pod(at_s: float, kind: EventKind, name: str, ip: str = "") -> ClusterEvent:
    return ClusterEvent(T0_NS + int(at_s * S), kind, name=name, ip=ip, node="n1")


def test_setup_pods_and_teardown_deletions_are_outside_the_phases() -> None:
    phases = phase_events([("baseline", 2.0), ("chaos", 6.0), ("recovery", 2.0)])  # t0 .. t0 + 10 s
    events = [*phases]
    for i in range(3):  # setup: created and Ready before the baseline
        events += [pod(-5, K.POD_ADDED, f"web-{i}"), pod(-4, K.POD_READY, f"web-{i}", f"10.0.0.{i}")]
    events += [  # chaos: web-0 deleted and replaced twice over
        pod(3, K.POD_TERMINATING, "web-0", "10.0.0.0"), pod(3.5, K.POD_DELETED, "web-0", "10.0.0.0"),
        pod(3, K.POD_ADDED, "web-3"), pod(4, K.POD_READY, "web-3", "10.0.0.3"),
        pod(5, K.POD_NOT_READY, "web-1", "10.0.0.1"), pod(5.2, K.POD_DELETED, "web-1", "10.0.0.1"),
        pod(5, K.POD_ADDED, "web-4"), pod(6, K.POD_READY, "web-4", "10.0.0.4"),
        pod(8, K.POD_ADDED, "web-5"),  # created, never Ready within the phases
    ]
    for name in ("web-2", "web-3", "web-4", "web-5"):  # teardown
        events.append(pod(12, K.POD_DELETED, name))
    events.append(pod(12.5, K.POD_READY, "web-9", "10.0.0.9"))  # Ready only after the phases
    frame = events_frame(events)
    stats = churn(frame, phases_from_events(frame))
    assert (stats.pods_created, stats.pods_deleted) == (3, 2)
    # Ready at some moment of the phases: the three setup pods (web-0, web-1 until they left) and web-3, web-4.
    assert stats.distinct_pods == 5
    assert stats.distinct_pod_ips == 5
    assert not stats.ips_reused


def test_a_pod_that_stopped_being_ready_before_the_phases_did_not_serve() -> None:
    phases = phase_events([("baseline", 1.0), ("chaos", 1.0)])
    events = [*phases, pod(-3, K.POD_READY, "old", "10.0.0.7"), pod(-2, K.POD_TERMINATING, "old", "10.0.0.7"),
              pod(-3, K.POD_READY, "web", "10.0.0.8")]  # fmt: skip
    frame = events_frame(events)
    assert churn(frame, phases_from_events(frame)).distinct_pods == 1
