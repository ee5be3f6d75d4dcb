"""Unit tests of the record wire form, its decoder and the load plan (pure functions)."""

from __future__ import annotations

import pandas as pd
import pytest

from chaoskit.load.decode import DecodeError, concat_frames, decode, empty_frame
from chaoskit.load.plan import LoadPlan, LoadTarget, PlanError
from chaoskit.load.records import FRAME_COLUMNS, OUTCOME_LABELS, RECORD, REQUEST_COLUMNS, STORED_COLUMNS, Outcome
from chaoskit.load.report import AgentReport, merge_reports

pytestmark = pytest.mark.unit

TARGETS = (
    LoadTarget("web", "ClusterIP", "127.62.0.1", 8080),
    LoadTarget("web", "NodePort", "127.62.0.2", 30080),
    LoadTarget("api", "ClusterIP", "127.62.0.3", 8080, "/health"),
)


def plan(**overrides: object) -> LoadPlan:
    fields: dict[str, object] = {"targets": TARGETS, "rate": 100.0, "duration_s": 2.0,
                                 "connection": "keepalive", "timeout_s": 1.0}
    fields.update(overrides)
    return LoadPlan(**fields)  # type: ignore[arg-type]


def test_decode_round_trip_keeps_every_field() -> None:
    rows = [
        (1_000, 1_500, 250, 0, Outcome.OK, 200),
        (2_000, 2_100, 4_294_967_295, 1, Outcome.HTTP_5XX, 503),
        (3_000, 3_000, 0, 2, Outcome.REFUSED, 0),
        (4_000, 4_900, 7, 1, Outcome.AGENT_SATURATED, 0),
    ]
    buf = b"".join(RECORD.pack(*r) for r in rows)
    frame = decode(buf, plan())
    assert tuple(frame.columns) == STORED_COLUMNS and STORED_COLUMNS[:len(FRAME_COLUMNS)] == FRAME_COLUMNS
    assert FRAME_COLUMNS[:len(REQUEST_COLUMNS)] == REQUEST_COLUMNS
    assert set(frame["worker"]) == {"local/0"}
    assert frame["scheduled_ns"].tolist() == [1_000, 2_000, 3_000, 4_000]
    assert frame["start_ns"].tolist() == [1_500, 2_100, 3_000, 4_900]
    assert frame["latency_ns"].tolist() == [250_000, 4_294_967_295_000, 0, 7_000]
    assert frame["service"].tolist() == ["web", "web", "api", "web"]
    assert frame["service_type"].tolist() == ["ClusterIP", "NodePort", "ClusterIP", "NodePort"]
    assert frame["outcome"].tolist() == ["ok", "http_5xx", "refused", "agent_saturated"]
    assert frame["status"].tolist() == [200, 503, 0, 0]
    assert frame["ok"].tolist() == [True, False, False, False]
    assert frame["target"].tolist() == [f"{TARGETS[i].host}:{TARGETS[i].port}" for i in (0, 1, 2, 1)]
    assert list(frame["outcome"].cat.categories) == list(OUTCOME_LABELS)


def test_decode_rejects_a_partial_record() -> None:
    with pytest.raises(DecodeError, match="not a whole number"):
        decode(RECORD.pack(1, 2, 3, 0, 0, 200)[:-1], plan())


def test_decode_rejects_an_unknown_target_index() -> None:
    with pytest.raises(DecodeError, match="names target 3"):
        decode(RECORD.pack(1, 2, 3, 3, 0, 200), plan())


def test_decode_rejects_an_unknown_outcome() -> None:
    with pytest.raises(DecodeError, match="unknown outcome"):
        decode(RECORD.pack(1, 2, 3, 0, len(OUTCOME_LABELS), 0), plan())


def test_empty_frame_has_the_columns() -> None:
    assert tuple(empty_frame(plan()).columns) == STORED_COLUMNS


def test_plan_json_round_trip() -> None:
    original = plan(start_at_ns=123, connection="new-connection", records=False, in_flight_cap=5)
    assert LoadPlan.from_json(original.to_json()) == original


@pytest.mark.parametrize(("rate", "duration", "expected"), [
    (100.0, 2.0, 200), (3.0, 1.0, 3), (2.5, 1.0, 3), (1000.0, 0.0015, 2),
])
def test_request_count_is_rate_times_duration_rounded_up(
        rate: float, duration: float, expected: int) -> None:
    assert plan(rate=rate, duration_s=duration).requests_per_target == expected


def test_in_flight_cap_covers_a_timeout_of_arrivals() -> None:
    assert plan(rate=1000.0, timeout_s=2.0).max_in_flight >= 2000
    assert plan(rate=1000.0, timeout_s=2.0, in_flight_cap=7).max_in_flight == 7


@pytest.mark.parametrize(("overrides", "message"), [
    ({"targets": ()}, "at least one target"),
    ({"rate": 0.0}, "rate: must be a positive"),
    ({"duration_s": float("nan")}, "duration_s: must be a positive"),
    ({"timeout_s": -1.0}, "timeout_s: must be a positive"),
    ({"connection": "pipelined"}, "connection: one of"),
    ({"targets": (LoadTarget("a", "ClusterIP", "127.0.0.1", 0),)}, r"targets\[0\].port"),
    ({"targets": (LoadTarget("a", "ClusterIP", "127.0.0.1", 80, "x"),)}, r"targets\[0\].path"),
    ({"targets": (TARGETS[0],) * 256}, "at most 255"),
    ({"in_flight_cap": 0}, "in_flight_cap: must be at least 1"),
])
def test_plan_validation_names_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan(**overrides)


def test_plan_from_bad_json_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="invalid load plan JSON"):
        LoadPlan.from_json('{"targets": []')


def test_frames_of_two_agents_concatenate_with_categorical_columns() -> None:
    """Two agents, two plans: the merged frame keeps every row and categorical service columns."""
    cluster_ip = LoadPlan(targets=(LoadTarget("web", "ClusterIP", "10.96.0.1", 80),), rate=1.0, duration_s=1.0,
                          connection="keepalive", timeout_s=1.0)
    node_port = LoadPlan(targets=(LoadTarget("web", "NodePort", "10.88.0.1", 30080),
                                  LoadTarget("api", "NodePort", "10.88.0.1", 30081)), rate=1.0, duration_s=1.0,
                         connection="keepalive", timeout_s=1.0)
    a = decode(RECORD.pack(1, 1, 10, 0, Outcome.OK, 200), cluster_ip)
    b = decode(RECORD.pack(2, 2, 10, 1, Outcome.REFUSED, 0) + RECORD.pack(3, 3, 10, 0, Outcome.OK, 200), node_port)
    merged = concat_frames([a, b])
    assert list(merged["service_type"]) == ["ClusterIP", "NodePort", "NodePort"]
    assert list(merged["service"]) == ["web", "api", "web"]
    assert list(merged["outcome"]) == ["ok", "refused", "ok"]
    for column in ("service", "service_type", "outcome"):
        assert isinstance(merged[column].dtype, pd.CategoricalDtype), column
    assert list(merged.columns) == list(STORED_COLUMNS)


def test_reports_of_two_agents_merge_to_the_worst_case() -> None:
    quiet = AgentReport(requests=100, cpu_seconds=1.0, wall_seconds=10.0, cpu_utilisation=0.1, late_starts=1,
                        max_lag_ms=2.0, saturated=False, exit_code=0, p99_lag_ms=1.0, connections=100)
    busy = AgentReport(requests=50, cpu_seconds=9.5, wall_seconds=10.0, cpu_utilisation=0.95, late_starts=4,
                       max_lag_ms=30.0, saturated=True, exit_code=0, p99_lag_ms=25.0, agent_saturated=2,
                       connections=50)
    merged = merge_reports([quiet, busy])
    assert (merged.requests, merged.late_starts, merged.agent_saturated, merged.connections) == (150, 5, 2, 150)
    assert merged.cpu_utilisation == 0.95 and merged.saturated and merged.max_lag_ms == 30.0
    assert merge_reports([quiet]) is quiet
