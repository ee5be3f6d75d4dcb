"""Availability per address: which node's NodePort failed."""

from __future__ import annotations

import pytest

from chaoskit.analysis.frames import prepare
from chaoskit.analysis.targets import by_target
from chaoskit.load.decode import decode
from chaoskit.load.plan import LoadPlan, LoadTarget
from chaoskit.load.records import RECORD, Outcome

pytestmark = pytest.mark.unit
PLAN = LoadPlan(targets=(LoadTarget("web", "ClusterIP", "10.96.0.9", 80),
                         LoadTarget("web-np", "NodePort", "10.88.0.1", 30080, node="node-1"),
                         LoadTarget("web-np", "NodePort", "10.90.0.2", 30080, node="node-2")),
                rate=10.0, duration_s=1.0, connection="keepalive", timeout_s=1.0)
S = 1_000_000_000


def test_each_address_gets_its_row_and_its_failure_span() -> None:
    raw = b"".join([
        RECORD.pack(0, 0, 100, 0, Outcome.OK, 200),
        RECORD.pack(0, 0, 100, 1, Outcome.OK, 200),
        RECORD.pack(1 * S, 1 * S, 100, 2, Outcome.OK, 200),
        RECORD.pack(2 * S, 2 * S, 2_000_000, 2, Outcome.CONNECT_TIMEOUT, 0),
        RECORD.pack(3 * S, 3 * S, 2_000_000, 2, Outcome.CONNECT_TIMEOUT, 0),
        RECORD.pack(4 * S, 4 * S, 100, 1, Outcome.REFUSED, 0),
    ])
    rows = {(r.service_type, r.target): r for r in by_target(prepare(decode(raw, PLAN), ()))}
    assert set(rows) == {("ClusterIP", "10.96.0.9:80"), ("NodePort", "10.88.0.1:30080 (node-1)"),
                         ("NodePort", "10.90.0.2:30080 (node-2)")}
    node2 = rows["NodePort", "10.90.0.2:30080 (node-2)"]
    assert (node2.requests, node2.failed, node2.failures_by_outcome) == (3, 2, {"connect_timeout": 2})
    assert (node2.first_failure_s, node2.last_failure_s) == (2.0, 3.0)
    node1 = rows["NodePort", "10.88.0.1:30080 (node-1)"]
    assert (node1.failed, node1.ratio) == (1, 0.5)
    assert rows["ClusterIP", "10.96.0.9:80"].first_failure_s is None


def test_nothing_to_add_when_every_service_type_has_one_address() -> None:
    single = LoadPlan(targets=PLAN.targets[:2], rate=10.0, duration_s=1.0, connection="keepalive", timeout_s=1.0)
    frame = decode(RECORD.pack(0, 0, 100, 1, Outcome.REFUSED, 0), single)
    assert by_target(prepare(frame, ())) == ()
    assert by_target(prepare(frame.drop(columns=["target"]), ())) == ()  # runs saved before the column existed
