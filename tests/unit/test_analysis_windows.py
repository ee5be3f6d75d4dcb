"""Availability and error windows on synthetic runs with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chaoskit.analysis.availability import availability
from chaoskit.analysis.frames import AnalysisError, PhaseSpan, prepare
from chaoskit.analysis.synthetic import T0_NS, Outage, requests_from, synthetic_requests
from chaoskit.analysis.windows import error_windows, window_stats

pytestmark = pytest.mark.unit
MS = 1_000_000


def test_no_failures_means_full_availability_and_no_windows() -> None:
    cols = prepare(synthetic_requests(duration_s=20, rate=50), ())
    rows = availability(cols)
    assert {r.service_type for r in rows} == {"ClusterIP", "NodePort"}
    assert all(r.failed == 0 and r.ratio == 1.0 for r in rows)
    assert sum(r.requests for r in rows if r.phase == "all") == 2000
    assert error_windows(cols) == ()


def test_a_500ms_block_is_one_window_of_half_a_second() -> None:
    rate = 200.0
    frame = synthetic_requests(duration_s=10, rate=rate, lag_ms=0.0, outages=[Outage("ClusterIP", 4.0, 4.5)])
    windows = error_windows(prepare(frame, ()))
    assert len(windows) == 1
    (w,) = windows
    assert w.service_type == "ClusterIP"
    assert w.failed == 100
    assert w.ok_inside == 0
    assert abs(w.duration_s - 0.5) <= 1 / rate
    assert w.outcomes == {"refused": 100}


def _two_runs(gap_ms: int) -> pd.DataFrame:
    # Failures at 0..40 ms, one success, failures again from 40 + gap_ms: two runs split by the success.
    starts = [0, 10, 20, 30, 30 + gap_ms // 2, 30 + gap_ms, 40 + gap_ms]
    ok = [False, False, False, False, True, False, False]
    return requests_from([T0_NS + s * MS for s in starts], ok, latency_ns=0)


@pytest.mark.parametrize(
    ("gap_ms", "tolerance_s", "expected"),
    [(50, 0.1, 1), (50, 0.01, 2), (300, 0.1, 2), (100, 0.1, 1)],
)
def test_gap_tolerance_merges_runs_split_by_a_success(gap_ms: int, tolerance_s: float, expected: int) -> None:
    windows = error_windows(prepare(_two_runs(gap_ms), ()), gap_tolerance_s=tolerance_s)
    assert len(windows) == expected
    assert sum(w.failed for w in windows) == 6
    if expected == 1:
        assert windows[0].ok_inside == 1
        assert windows[0].duration_s == pytest.approx((40 + gap_ms) / 1000)


def test_failures_without_a_success_between_stay_one_window_however_far_apart() -> None:
    frame = requests_from([T0_NS, T0_NS + 5_000 * MS], [False, False], latency_ns=0)
    (w,) = error_windows(prepare(frame, ()), gap_tolerance_s=0.1)
    assert w.duration_s == 5.0


def test_window_ends_at_the_latest_failure_end_not_the_last_start() -> None:
    # A 2 s timeout that began first outlasts the fast refusals after it.
    frame = requests_from(
        [T0_NS, T0_NS + 10 * MS, T0_NS + 20 * MS], [False, False, False],
        latency_ns=[2_000 * MS, MS, MS],
    )  # fmt: skip
    (w,) = error_windows(prepare(frame, ()))
    assert w.end_ns == T0_NS + 2_000 * MS
    assert w.duration_s == 2.0


def test_windows_are_per_service_type_and_ignore_input_order() -> None:
    frame = synthetic_requests(
        duration_s=10, rate=100,
        outages=[Outage("ClusterIP", 2, 3), Outage("NodePort", 6, 6.2), Outage("ClusterIP", 8, 8.1)],
    )  # fmt: skip
    shuffled = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    windows = error_windows(prepare(shuffled, ()))
    assert [(w.service_type, w.failed) for w in windows] == [
        ("ClusterIP", 100), ("ClusterIP", 10), ("NodePort", 20),
    ]  # fmt: skip
    stats = {s.service_type: s for s in window_stats(windows, ("ClusterIP", "NodePort"))}
    assert stats["ClusterIP"].count == 2
    assert stats["ClusterIP"].longest is not None
    assert stats["ClusterIP"].longest.failed == 100
    assert stats["ClusterIP"].top[0].duration_s >= stats["ClusterIP"].top[1].duration_s
    assert stats["NodePort"].failed == 20


def test_partial_outage_counts_successes_inside_the_window() -> None:
    frame = synthetic_requests(duration_s=5, rate=300, outages=[Outage("ClusterIP", 1, 2, every=3)])
    (w,) = error_windows(prepare(frame, ()))
    assert w.failed == 100
    assert w.ok_inside == 198  # the two successes between each pair of failures


def test_requests_are_assigned_to_phases_by_scheduled_start() -> None:
    phases = (
        PhaseSpan("baseline", T0_NS, T0_NS + 1000 * MS),
        PhaseSpan("chaos", T0_NS + 1000 * MS, T0_NS + 2000 * MS),
    )
    # Scheduled at 999 ms (baseline) but the agent started it late, at 1005 ms (chaos): it is baseline's.
    frame = requests_from(
        [T0_NS + 1005 * MS, T0_NS + 1500 * MS, T0_NS + 2500 * MS], [False, True, True],
        scheduled_ns=[T0_NS + 999 * MS, T0_NS + 1500 * MS, T0_NS + 2500 * MS],
    )  # fmt: skip
    rows = {r.phase: r for r in availability(prepare(frame, phases))}
    assert (rows["baseline"].requests, rows["baseline"].failed) == (1, 1)
    assert (rows["chaos"].requests, rows["chaos"].failed) == (1, 0)
    assert rows["outside"].requests == 1
    assert rows["all"].requests == 3
    assert rows["baseline"].failures_by_outcome == {"refused": 1}


def test_one_failure_in_millions_does_not_round_to_full_availability() -> None:
    n = 2_000_000
    ok = np.ones(n, dtype=bool)
    ok[123] = False
    frame = requests_from(np.arange(n, dtype=np.int64) + T0_NS, ok)
    (row, overall) = availability(prepare(frame, ()))
    assert overall.ratio is not None and overall.ratio < 1.0
    assert row.failed == 1


def test_missing_columns_are_a_typed_error() -> None:
    frame = synthetic_requests(duration_s=1).drop(columns=["ok"])
    with pytest.raises(AnalysisError, match=r"lacks columns \['ok'\]"):
        prepare(frame, ())
