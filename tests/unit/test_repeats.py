"""The verdict over a series, the per-metric aggregate, and two sets of runs compared (pure functions)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from chaoskit.analysis import RunSummary
from chaoskit.analysis.comparison import compare, incompatibilities
from chaoskit.analysis.repeats import Aggregate, SeriesRun, aggregate, measurements, series_verdict
from chaoskit.analysis.verdict import Outcome
from tests.reports_support import firings, synthetic_summary

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("outcomes", "interrupted", "expected", "sentence"), [
    (["PASS"] * 5, False, "PASS", "PASS: passed 5 of 5"),
    (["PASS", "FAIL", "PASS", "FAIL", "FAIL"], False, "FLAKY", "FLAKY: passed 2 of 5 (3 failed)"),
    (["FAIL", "FAIL", "INCONCLUSIVE"], False, "FAIL", "FAIL: passed 0 of 3 (2 failed, 1 inconclusive)"),
    (["PASS", "INCONCLUSIVE", "PASS"], False, "INCONCLUSIVE", "INCONCLUSIVE: passed 2 of 3 (1 inconclusive)"),
    (["INCONCLUSIVE", "INCONCLUSIVE"], False, "INCONCLUSIVE", "INCONCLUSIVE: passed 0 of 2 (2 inconclusive)"),
    (["PASS", "FAIL", "INCONCLUSIVE"], False, "FLAKY", "FLAKY: passed 1 of 3 (1 failed, 1 inconclusive)"),
    (["PASS", "ABORTED"], True, "ABORTED", "ABORTED: passed 1 of 1; interrupted after 1 of 5 runs"),
    ([], True, "ABORTED", "ABORTED: passed 0 of 0; interrupted after 0 of 5 runs"),
])  # fmt: skip
def test_the_series_verdict_follows_the_documented_rule(outcomes: list[str], interrupted: bool, expected: str,
                                                        sentence: str) -> None:
    verdict = series_verdict(outcomes, asked=len(outcomes) if not interrupted else 5, interrupted=interrupted)
    assert verdict.outcome == expected
    assert verdict.sentence == sentence


def _series(outages: list[float], *, experiment: str = "pod-recreate") -> list[RunSummary]:
    return [synthetic_summary(outage_s=o, seed=i + 1, experiment=experiment, run_id=f"r{i}", facts=firings())[0]
            for i, o in enumerate(outages)]


def test_the_aggregate_means_each_metric_over_the_conclusive_runs_only() -> None:
    runs = _series([0.03, 0.05, 0.04, 0.2])
    inconclusive = dataclasses.replace(runs[3], verdict=dataclasses.replace(
        runs[3].verdict, outcome=Outcome.INCONCLUSIVE, inconclusive=("the load agent fell behind",)))
    summaries = [*runs[:3], inconclusive]
    entries = [(s, SeriesRun(s.run_id, str(s.verdict.outcome), i, s.run_id)) for i, s in enumerate(summaries)]
    agg = aggregate(entries, experiment="pod-recreate", backend="local", series_id="x4", asked=4, interrupted=False)
    assert agg.verdict.outcome == "INCONCLUSIVE" and agg.verdict.passed == 3
    assert agg.evidence == ("r0", "r1", "r2")
    stats = {(m.metric, m.scope): m for m in agg.metrics}
    ratios = [measurements(s)[("availability", "ClusterIP")].value for s in runs[:3]]
    availability = stats[("availability", "ClusterIP")]
    assert availability.values == tuple(ratios)
    assert availability.interval is not None
    assert availability.interval.estimate == pytest.approx(sum(r for r in ratios if r is not None) / 3)
    assert availability.interval.low is not None and availability.interval.high is not None
    assert availability.interval.low <= availability.interval.estimate <= availability.interval.high
    ready = stats[("clock.replacement_ready", "pod-delete-0#0")]
    assert ready.values == pytest.approx((1.01, 1.02, 1.03))
    assert {m.metric for m in agg.metrics} >= {"availability", "longest_window_s", "p99_ms", "recovery_s",
                                               "clock.traffic_recovered"}


def test_the_aggregate_survives_its_json_form() -> None:
    summaries = _series([0.03, 0.05])
    entries = [(s, SeriesRun(s.run_id, str(s.verdict.outcome), i, s.run_id)) for i, s in enumerate(summaries)]
    agg = aggregate(entries, experiment="pod-recreate", backend="local", series_id="x2", asked=2, interrupted=False)
    again = Aggregate.from_dict(json.loads(json.dumps(agg.to_dict())))
    assert again == agg


def test_a_clearly_worse_candidate_is_a_significant_regression() -> None:
    base, worse = _series([0.03] * 5), _series([0.3] * 5)
    result = compare(base, worse, regression_pct=20)
    row = next(r for r in result.rows if (r.metric, r.scope) == ("availability", "ClusterIP"))
    assert row.significant is True and row.regression and not row.unconfirmed
    assert row.change_pct is not None and row.change_pct > 500  # ten times the failed share
    window = next(r for r in result.rows if (r.metric, r.scope) == ("longest_window_s", "NodePort"))
    assert window.difference is not None and window.difference.estimate == pytest.approx(0.27, abs=0.02)
    assert window.regression
    assert not compare(base, base, regression_pct=20).regressions
    assert not compare(worse, base, regression_pct=20).regressions  # better is never a regression


def test_single_runs_have_no_interval_and_regressions_are_unconfirmed() -> None:
    (base,), (worse,) = _series([0.03]), _series([0.3])
    result = compare([base], [worse], regression_pct=20)
    assert result.single_runs and any("no confidence interval" in n for n in result.notes)
    assert all(r.significant is None for r in result.rows)
    assert result.regressions and all(r.unconfirmed for r in result.regressions)
    assert not compare([base], [worse]).regressions  # no gate, no regression


def test_runs_of_different_experiments_cannot_be_compared() -> None:
    base, other = _series([0.03]), _series([0.03], experiment="node-drain")
    assert incompatibilities(base, other) == ["experiment: base pod-recreate vs candidate node-drain"]
    old = [dataclasses.replace(base[0], schema_version=1)]
    assert incompatibilities(old, base) == ["schema_version: base 1 vs candidate 2"]
    assert incompatibilities([], base) == ["base: no finished run to compare"]
