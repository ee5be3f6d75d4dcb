"""Latency percentiles equal numpy's on the raw values; agent health from the schedule lag."""

from __future__ import annotations

import numpy as np
import pytest

from chaoskit.analysis.frames import PhaseSpan, prepare
from chaoskit.analysis.health import agent_health
from chaoskit.analysis.latency import latency, p99_over
from chaoskit.analysis.synthetic import T0_NS, Outage, synthetic_requests

pytestmark = pytest.mark.unit
S = 1_000_000_000
PHASES = (
    PhaseSpan("baseline", T0_NS, T0_NS + 5 * S),
    PhaseSpan("chaos", T0_NS + 5 * S, T0_NS + 15 * S),
    PhaseSpan("recovery", T0_NS + 15 * S, T0_NS + 20 * S),
)


def _frame():  # type: ignore[no-untyped-def]
    return synthetic_requests(
        duration_s=20, rate=200, latency_ms=3.0, seed=11,
        outages=[Outage("ClusterIP", 6, 7), Outage("NodePort", 16, 16.5, outcome="timeout")],
    )  # fmt: skip


def test_percentiles_equal_numpy_on_the_raw_ok_latencies() -> None:
    frame = _frame()
    rows = latency(prepare(frame, PHASES))
    assert len(rows) == 2 * 4
    for row in rows:
        mine = frame["service_type"] == row.service_type
        if row.phase != "all":
            phase = next(p for p in PHASES if p.name == row.phase)
            mine &= (frame["scheduled_ns"] >= phase.begin_ns) & (frame["scheduled_ns"] < phase.end_ns)
        raw = frame.loc[mine & frame["ok"], "latency_ns"].to_numpy()
        expected = np.percentile(raw, [50, 95, 99]) / 1e6
        assert (row.p50_ms, row.p95_ms, row.p99_ms) == pytest.approx(tuple(expected), abs=1e-3)
        assert row.max_ms == pytest.approx(raw.max() / 1e6, abs=1e-3)
        assert row.ok == len(raw)
        assert row.failed == int((mine & ~frame["ok"]).sum())


def test_failed_requests_are_counted_but_not_in_the_percentiles() -> None:
    rows = {(r.service_type, r.phase): r for r in latency(prepare(_frame(), PHASES))}
    assert rows["ClusterIP", "chaos"].failed == 200
    assert rows["NodePort", "recovery"].failed == 100
    assert rows["ClusterIP", "baseline"].failed == 0
    # Fast refusals (0.1 ms) would pull the p50 down if they were included.
    assert rows["ClusterIP", "chaos"].p50_ms == pytest.approx(rows["ClusterIP", "baseline"].p50_ms, rel=0.1)


def test_p99_over_several_phases_is_computed_on_their_union_not_averaged() -> None:
    frame = _frame()
    judged = p99_over(prepare(frame, PHASES), ["chaos", "recovery"])
    mine = (frame["scheduled_ns"] >= T0_NS + 5 * S) & frame["ok"]
    for service_type, value in judged.items():
        raw = frame.loc[mine & (frame["service_type"] == service_type), "latency_ns"].to_numpy()
        assert value == pytest.approx(np.percentile(raw, 99) / 1e6, abs=1e-3)


def test_agent_health_counts_late_starts_from_the_schedule() -> None:
    frame = synthetic_requests(duration_s=10, rate=100, lag_ms=0.0)
    frame.loc[:9, "start_ns"] += 30_000_000  # 10 requests (0.5%) began 30 ms late
    health = agent_health(prepare(frame, ()), {"cpu_utilisation": 0.25, "exit_code": 0})
    assert health.requests == 2000
    assert health.late_starts == 10
    assert health.late_ratio == 0.005
    assert health.lag_max_ms == 30.0
    assert health.cpu_utilisation == 0.25
    assert health.saturated is False  # 0.5% late: the p99 lag is still 0


def test_agent_health_flags_a_saturated_client() -> None:
    frame = synthetic_requests(duration_s=10, rate=100, lag_ms=0.0)
    frame["start_ns"] += 25_000_000
    assert agent_health(prepare(frame, ()), None).saturated is True
    calm = synthetic_requests(duration_s=10, rate=100)
    assert agent_health(prepare(calm, ()), {"saturated": True}).saturated
    assert agent_health(prepare(calm, ()), {"cpu_utilisation": 0.95}).saturated
