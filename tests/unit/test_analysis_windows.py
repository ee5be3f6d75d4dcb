"""Availability and unavailability windows on synthetic runs with known answers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from chaoskit.analysis.availability import availability
from chaoskit.analysis.frames import AnalysisError, Columns, PhaseSpan, prepare, run_end_ns
from chaoskit.analysis.synthetic import T0_NS, Outage, requests_from, synthetic_requests
from chaoskit.analysis.windows import WindowStats, failure_runs, window_stats

pytestmark = pytest.mark.unit
MS = 1_000_000
NODE1, NODE2 = "10.0.0.1:30080 (node-1)", "10.0.0.2:30080 (node-2)"


def stats_of(frame: pd.DataFrame, phases: tuple[PhaseSpan, ...] = ()) -> dict[str, WindowStats]:
    cols = prepare(frame, phases)
    return {s.service_type: s for s in window_stats(cols, failure_runs(cols, run_end_ns(cols, phases)))}


def at_ms(starts: Sequence[float], ok: Sequence[bool], **kwargs: object) -> pd.DataFrame:
    return requests_from([T0_NS + int(s * MS) for s in starts], ok, **kwargs)  # type: ignore[arg-type]


def test_no_failures_means_full_availability_and_no_windows() -> None:
    cols = prepare(synthetic_requests(duration_s=20, rate=50), ())
    rows = availability(cols)
    assert {r.service_type for r in rows} == {"ClusterIP", "NodePort"}
    assert all(r.failed == 0 and r.ratio == 1.0 for r in rows)
    assert sum(r.requests for r in rows if r.phase == "all") == 2000
    assert len(failure_runs(cols, run_end_ns(cols, ()))) == 0
    assert all(s.count == 0 and s.longest is None for s in stats_of(synthetic_requests(duration_s=2)).values())


def test_a_500ms_block_is_one_window_from_first_failure_to_next_success() -> None:
    frame = synthetic_requests(duration_s=10, rate=200, lag_ms=0.0, outages=[Outage("ClusterIP", 4.0, 4.5)])
    stats = stats_of(frame)["ClusterIP"]
    assert (stats.count, stats.failed, stats.open) == (1, 100, 0)
    w = stats.longest
    assert w is not None
    assert (w.begin_ns, w.end_ns) == (T0_NS + 4_000 * MS, T0_NS + 4_500 * MS)
    assert w.duration_s == 0.5 == stats.unavailable_s
    assert w.outcomes == {"refused": 100}
    assert not w.open
    assert stats_of(frame)["NodePort"].count == 0


def test_a_timeout_window_ends_at_the_next_success_start_not_at_its_own_end() -> None:
    # A 2 s timeout started at 0; the next request, at 10 ms, succeeded: users of the path were served again.
    frame = at_ms([0, 10, 20], [False, True, True], latency_ns=[2_000 * MS, MS, MS])
    w = stats_of(frame)["ClusterIP"].longest
    assert w is not None
    assert (w.begin_ns, w.end_ns, w.duration_s) == (T0_NS, T0_NS + 10 * MS, 0.01)


def test_failures_without_a_success_between_stay_one_window_however_far_apart() -> None:
    frame = at_ms([0, 5_000, 6_000], [False, False, True], latency_ns=0)
    stats = stats_of(frame)["ClusterIP"]
    assert stats.count == 1
    assert stats.longest is not None and stats.longest.duration_s == 6.0 and stats.longest.failed == 2


def test_one_success_splits_two_windows_and_none_has_a_success_inside() -> None:
    frame = at_ms([0, 10, 20, 30, 40, 50], [False, False, True, False, True, True], latency_ns=0)
    stats = stats_of(frame)["ClusterIP"]
    assert stats.count == 2
    assert [(w.begin_ns - T0_NS, w.end_ns - T0_NS, w.failed) for w in sorted(stats.top, key=lambda w: w.begin_ns)] \
        == [(0, 20 * MS, 2), (30 * MS, 40 * MS, 1)]
    assert stats.unavailable_s == 0.03


def test_an_address_failing_until_the_end_has_an_open_window_ending_at_the_end_of_the_run() -> None:
    phases = (PhaseSpan("baseline", T0_NS, T0_NS + 1_000 * MS), PhaseSpan("recovery", T0_NS + 1_000 * MS,
                                                                             T0_NS + 3_000 * MS))  # fmt: skip
    frame = at_ms([100, 500, 600, 2_900], [True, False, False, False], latency_ns=2_000 * MS)
    stats = stats_of(frame, phases)["ClusterIP"]
    w = stats.longest
    assert w is not None and w.open and stats.open == 1
    assert (w.begin_ns, w.end_ns) == (T0_NS + 500 * MS, T0_NS + 3_000 * MS)
    assert stats.addresses[0].open


def test_two_addresses_give_two_windows_not_one_with_successes_inside() -> None:
    # node-1's address refuses from 1.0 s to 2.0 s; node-2's keeps answering except one reset at 1.5 s.
    starts, ok, target = [], [], []
    for i in range(300):
        t = i * 10
        for node, fails in ((NODE1, 1_000 <= t < 2_000), (NODE2, t == 1_500)):
            starts.append(t)
            ok.append(not fails)
            target.append(node)
    frame = at_ms(starts, ok, latency_ns=MS, service_type="NodePort", target=target)
    stats = stats_of(frame)["NodePort"]
    by_address = {a.address: a for a in stats.addresses}
    assert stats.count == 2
    assert (by_address[NODE1].count, by_address[NODE1].failed, by_address[NODE1].total_s) == (1, 100, 1.0)
    assert (by_address[NODE2].count, by_address[NODE2].failed, by_address[NODE2].total_s) == (1, 1, 0.01)
    assert {(w.address, w.duration_s) for w in stats.top} == {(NODE1, 1.0), (NODE2, 0.01)}
    assert stats.unavailable_s == 1.0  # node-2's 10 ms lie inside node-1's second: the union counts it once


def test_the_union_over_addresses_counts_overlap_once() -> None:
    starts = [0, 0, 500, 800, 1_500, 1_500]
    ok = [False, True, False, True, True, True]
    target = [NODE1, NODE2, NODE2, NODE1, NODE1, NODE2]
    frame = at_ms(starts, ok, latency_ns=MS, service_type="NodePort", target=target)
    stats = stats_of(frame)["NodePort"]
    # node-1 [0, 800), node-2 [500, 1500): at least one down over [0, 1500).
    assert stats.unavailable_s == 1.5
    assert sum(a.total_s for a in stats.addresses) == 1.8


def test_without_a_target_column_the_service_type_is_the_address() -> None:
    frame = at_ms([0, 10], [False, True])
    cols = prepare(frame, ())
    assert cols.addresses == ("ClusterIP",)
    (stats,) = window_stats(cols, failure_runs(cols, run_end_ns(cols, ())))
    assert stats.addresses[0].address == "ClusterIP"


def test_windows_are_per_service_type_and_ignore_input_order() -> None:
    frame = synthetic_requests(
        duration_s=10, rate=100,
        outages=[Outage("ClusterIP", 2, 3), Outage("NodePort", 6, 6.2), Outage("ClusterIP", 8, 8.1)],
    )  # fmt: skip
    shuffled = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    stats = stats_of(shuffled)
    assert stats["ClusterIP"].count == 2
    assert [w.failed for w in stats["ClusterIP"].top] == [100, 10]
    assert stats["ClusterIP"].top[0].duration_s >= stats["ClusterIP"].top[1].duration_s
    assert stats["NodePort"].failed == 20
    assert stats == stats_of(frame)


def test_a_partial_outage_is_many_short_windows_one_per_failure() -> None:
    # One backend of three gone: every third request fails and the next one succeeds.
    frame = synthetic_requests(duration_s=5, rate=300, lag_ms=0.0, outages=[Outage("ClusterIP", 1, 2, every=3)])
    stats = stats_of(frame)["ClusterIP"]
    assert (stats.count, stats.failed) == (100, 100)
    assert stats.longest is not None and stats.longest.failed == 1
    assert stats.unavailable_s == pytest.approx(100 / 300, abs=1e-5)


def test_failure_runs_cover_every_failure_once() -> None:
    frame = synthetic_requests(duration_s=5, rate=200, outages=[Outage("ClusterIP", 1, 2, every=2),
                                                                Outage("NodePort", 3, 3.5)])  # fmt: skip
    cols: Columns = prepare(frame, ())
    runs = failure_runs(cols, run_end_ns(cols, ()))
    assert sorted(runs.rows.tolist()) == np.flatnonzero(~cols.ok).tolist()
    assert int(runs.failed().sum()) == int((~cols.ok).sum())
    assert np.all(runs.end_ns >= runs.begin_ns)


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
