"""The analysis's memory-lean forms give the same answers as the plain ones they replaced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chaoskit.analysis.frames import AnalysisError, PhaseSpan, count_codes, narrow, phase_codes, prepare, row_chunks
from chaoskit.analysis.synthetic import synthetic_requests
from chaoskit.report.timeseries import counts, counts_by_chunk, make_grid, quantiles, quantiles_by_slab


def _phase_codes_by_search(scheduled: np.ndarray, phases: tuple[PhaseSpan, ...]) -> np.ndarray:
    """The definition: the phase that began last at or before the start, if it has not ended."""
    begins = np.array([p.begin_ns for p in phases])
    ends = np.array([p.end_ns for p in phases])
    idx = np.searchsorted(begins, scheduled, side="right") - 1
    inside = (idx >= 0) & (scheduled < ends[np.maximum(idx, 0)])
    return np.where(inside, idx, len(phases))


@pytest.mark.parametrize("seed", range(20))
def test_phase_codes_follow_the_definition_with_gaps_overlaps_and_ties(seed: int,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from chaoskit.analysis import frames

    monkeypatch.setattr(frames, "chunk_rows", 333)  # chunk edges inside the phases
    rng = np.random.default_rng(seed)
    begins = np.sort(rng.integers(0, 1_000, 4))  # ties possible
    phases = tuple(PhaseSpan(f"p{i}", int(b), int(b + rng.integers(-50, 400))) for i, b in enumerate(begins))
    scheduled = rng.integers(-100, 1_500, 5_000)
    got = phase_codes(scheduled, phases)
    assert got.dtype == np.int8
    assert (got == _phase_codes_by_search(scheduled, phases)).all()


def test_codes_are_counted_across_chunks_and_a_stray_code_is_refused() -> None:
    values = np.random.default_rng(3).integers(0, 7, (1 << 18) * 2 + 5).astype(np.int8)
    assert (count_codes(values, 7) == np.bincount(values, minlength=7)).all()
    assert count_codes(values[:0], 3).tolist() == [0, 0, 0]
    with pytest.raises(AnalysisError, match="beyond the 5 expected"):
        count_codes(values, 5)


def test_narrow_codes_keep_minus_one_and_the_largest_code() -> None:
    assert narrow(np.array([-1, 0, 127]), 128).dtype == np.int8
    wide = narrow(np.array([-1, 0, 128]), 129)
    assert wide.dtype == np.int16 and wide.tolist() == [-1, 0, 128]


def test_arithmetic_on_narrow_codes_does_not_overflow_in_availability() -> None:
    """Twelve outcomes times many phases passes int8's 127: the cell must be widened first."""
    frame = synthetic_requests(duration_s=2.0, rate=50, types=("ClusterIP", "NodePort"))
    frame.loc[frame.index[-5:], ["ok", "outcome"]] = [False, "tls_error"]
    phases = tuple(PhaseSpan(f"p{i}", frame["scheduled_ns"].min() + i * 10**8, frame["scheduled_ns"].min()
                             + (i + 1) * 10**8) for i in range(20))  # fmt: skip
    cols = prepare(frame, phases)
    from chaoskit.analysis.availability import availability

    rows = availability(cols)
    assert sum(r.failures_by_outcome.get("tls_error", 0) for r in rows if r.phase == "all") == 5
    assert sum(r.requests for r in rows if r.phase == "all") == len(frame)


@pytest.mark.parametrize("slab_rows", [1, 7, 100, 10_000])
def test_slabbed_percentiles_equal_the_whole_grid_ones(slab_rows: int) -> None:
    rng = np.random.default_rng(slab_rows)
    grid = make_grid(0, 10 * 10**9, origin_ns=0, finest_ms=500)
    times = rng.integers(-10**9, 11 * 10**9, 3_000)  # some before and after the grid: clipped into its ends
    times[:400] = 5 * 10**9 + 17  # one bucket larger than small slabs
    values = rng.exponential(3.0, 3_000)
    keep = rng.random(3_000) < 0.8

    def select(rows: slice) -> tuple[np.ndarray, np.ndarray]:
        mine = keep[rows]
        return times[rows][mine], values[rows][mine]

    expected = quantiles(grid, times[keep], values[keep], (0.5, 0.99, 1.0))
    got = quantiles_by_slab(grid, len(times), select, (0.5, 0.99, 1.0), slab_rows=slab_rows, chunk_rows=256)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.array_equal(got[~np.isnan(got)], expected[~np.isnan(expected)])


def test_chunked_counts_equal_the_whole_table() -> None:
    rng = np.random.default_rng(9)
    grid = make_grid(0, 60 * 10**9, origin_ns=0, finest_ms=100)
    times, codes = rng.integers(0, 60 * 10**9, 5_000), rng.integers(0, 4, 5_000)
    got = counts_by_chunk(grid, 5_000, lambda rows: (times[rows], codes[rows]), 4, chunk_rows=333)
    assert np.array_equal(got, counts(grid, times, codes, 4))


def test_prepare_keeps_the_categorical_codes_without_a_copy() -> None:
    frame = synthetic_requests(duration_s=1.0, rate=100)
    cols = prepare(frame, ())
    assert isinstance(frame["outcome"].dtype, pd.CategoricalDtype)
    assert cols.outcome_code.dtype == np.int8
    assert np.shares_memory(cols.outcome_code, frame["outcome"].array.codes)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_latency_cells_and_failures_follow_the_definition(seed: int) -> None:
    """The ok latencies of a type over some phases, and each cell's failures, as plain masks define them:
    20 phases with gaps (requests outside every phase), three types, random failures."""
    from chaoskit.analysis.latency import LatencyIndex

    rng = np.random.default_rng(seed)
    frame = synthetic_requests(duration_s=3.0, rate=200, types=("ClusterIP", "NodePort", "LoadBalancer"), seed=seed)
    failed = rng.random(len(frame)) < 0.1
    frame.loc[failed, ["ok", "outcome"]] = [False, "reset"]
    t0 = int(frame["scheduled_ns"].min())
    phases = tuple(PhaseSpan(f"p{i}", t0 + i * 10**8 + 2 * 10**7, t0 + (i + 1) * 10**8) for i in range(20))
    cols = prepare(frame, phases)
    index = LatencyIndex(cols)
    ok = frame["ok"].to_numpy()
    latency = frame["latency_ns"].to_numpy()
    kinds = frame["service_type"].astype(str).to_numpy()
    for t, kind in enumerate(cols.types):
        for wanted in ([0], [len(cols.phases) - 1], [3, 5, 19], list(range(len(cols.phases)))):
            in_phases = np.isin(cols.phase_code, wanted)
            mine = (kinds == kind) & in_phases
            taken = np.concatenate([index.cells(t, wanted)(rows) for rows in row_chunks(len(cols), 97)])
            assert taken.tolist() == latency[mine & ok].tolist()
            assert index.failures(t, wanted) == int((mine & ~ok).sum())
    assert len(index.cells(0, [])(slice(0, len(cols)))) == 0


def _windows_by_sorting(cols, run_end_ns: int) -> list[tuple[int, ...]]:  # type: ignore[no-untyped-def]
    """The definition, as the analysis computed it before it went by chunks: every address's requests sorted
    by start (stable), a window from a failure after a success to the next success's start."""
    found = []
    for a in range(len(cols.addresses)):
        mine = np.flatnonzero(cols.address_code == a)
        order = mine[np.argsort(cols.start_ns[mine], kind="stable")]
        fail_pos = np.flatnonzero(~cols.ok[order])
        if not len(fail_pos):
            continue
        first = np.flatnonzero(np.concatenate(([True], np.diff(fail_pos) > 1)))
        last = np.append(fail_pos[first[1:] - 1], fail_pos[-1])
        for f, end_pos in zip(fail_pos[first].tolist(), last.tolist(), strict=True):
            begin = int(cols.start_ns[order[f]])
            is_open = end_pos + 1 >= len(order)
            end = run_end_ns if is_open else int(cols.start_ns[order[end_pos + 1]])
            rows = tuple(order[f:end_pos + 1].tolist())  # in start order, ties by row
            found.append((a, begin, max(end, begin), is_open, rows))
    return found


@pytest.mark.parametrize("seed", range(12))
def test_failure_runs_by_chunks_equal_the_sorted_definition(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three addresses, failures in bursts and alone, starts tied to the nanosecond (coarse clocks), records out
    of start order, and chunks of 13 rows so that windows and ties straddle chunk edges."""
    from chaoskit.analysis import frames
    from chaoskit.analysis.windows import failure_runs

    monkeypatch.setattr(frames, "chunk_rows", 13)
    rng = np.random.default_rng(seed)
    frame = synthetic_requests(duration_s=2.0, rate=300, types=("ClusterIP", "NodePort"), seed=seed)
    n = len(frame)
    frame["target"] = pd.Categorical(rng.choice(["10.96.0.1:80", "10.88.0.1:30080 (node)", "10.90.0.2:30080 (node)"],
                                                n))
    frame["start_ns"] = frame["start_ns"] // 10_000_000 * 10_000_000  # 10 ms clock: many ties
    frame = frame.iloc[rng.permutation(n)].reset_index(drop=True)  # arrival order is not start order
    burst = (frame["start_ns"] % 1_000_000_000) < rng.integers(0, 400_000_000)
    failed = burst.to_numpy() & (rng.random(n) < 0.8) | (rng.random(n) < 0.02)
    frame.loc[failed, ["ok", "outcome"]] = [False, "reset"]
    cols = prepare(frame, ())
    assert np.asarray(cols.addresses)[cols.address_code].tolist() == frame["target"].astype(str).tolist()
    end = int(cols.start_ns.max()) + 5
    runs = failure_runs(cols, end)
    got = []
    for w in range(len(runs)):
        stop = int(runs.first[w + 1]) if w + 1 < len(runs) else len(runs.rows)
        got.append((int(runs.address[w]), int(runs.begin_ns[w]), int(runs.end_ns[w]), bool(runs.open[w]),
                    tuple(runs.rows[int(runs.first[w]):stop].tolist())))
        assert set(runs.window[int(runs.first[w]):stop].tolist()) == {w}
    assert got == _windows_by_sorting(cols, end)
    assert len(runs.rows) == int(failed.sum())
