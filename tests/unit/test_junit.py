"""--junit's XML read back by a real JUnit consumer (junitparser): what a CI system would show."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from chaoskit.analysis import RunSummary
from chaoskit.analysis.repeats import SeriesRun, aggregate
from chaoskit.analysis.verdict import Outcome
from chaoskit.report import junit
from tests.reports_support import LOST_HOSTPATH, firings, synthetic_summary

pytestmark = pytest.mark.unit


def _parse(text: str, tmp_path: Path) -> list[TestSuite]:
    path = tmp_path / "junit.xml"
    path.write_text(text)
    return list(JUnitXml.fromfile(str(path)))


def _results(case: TestCase) -> list[type]:
    return [type(r) for r in case.result]


def test_a_failed_run_has_one_case_per_check_with_measured_value_and_threshold(tmp_path: Path) -> None:
    summary = synthetic_summary(outage_s=0.3, facts=firings(), data=[*synthetic_summary()[0].data, LOST_HOSTPATH])[0]
    assert summary.verdict.outcome == Outcome.FAIL
    (suite,) = _parse(junit.render(summary), tmp_path)
    cases = list(suite)
    assert len(cases) == 1 + len(summary.verdict.checks)
    assert suite.tests == len(cases) and suite.failures == len(summary.verdict.reasons) and suite.errors == 0
    by_name = {(c.classname, c.name): c for c in cases}
    availability = by_name[("chaoskit.pod-recreate.availability", "ClusterIP")]
    (failure,) = availability.result
    assert isinstance(failure, Failure)
    assert failure.message.startswith("availability ClusterIP: 97.273% < 99.000%")
    assert failure.text == "measured: 97.273%\nthreshold: >= 99%"
    data = by_name[("chaoskit.pod-recreate.data", "node-data (hostPath) after pod-delete, same-node")]
    assert isinstance(data.result[0], Failure) and data.result[0].text == "measured: lost\nthreshold: survives"
    latency = by_name[("chaoskit.pod-recreate.p99_latency", "ClusterIP")]
    assert latency.is_passed and latency.system_out.startswith("p99 latency ClusterIP")
    assert by_name[("chaoskit.pod-recreate", "run")].is_passed
    assert {p.name: p.value for p in suite.properties()}["outcome"] == "FAIL"


def test_an_inconclusive_run_is_an_error_and_its_checks_are_skipped(tmp_path: Path) -> None:
    summary = synthetic_summary(outage_s=0.3, facts=firings())[0]
    inconclusive = dataclasses.replace(summary, verdict=dataclasses.replace(
        summary.verdict, outcome=Outcome.INCONCLUSIVE, passed=False,
        inconclusive=("the load agent did not send 209 of 800 planned requests",)))
    (suite,) = _parse(junit.render(inconclusive), tmp_path)
    run = next(c for c in suite if c.name == "run")
    (error,) = run.result
    assert isinstance(error, Error) and error.type == "inconclusive"
    assert error.message == "inconclusive: the load agent did not send 209 of 800 planned requests"
    checks = [c for c in suite if c.name != "run"]
    assert checks and all(_results(c) == [Skipped] for c in checks)
    assert all(c.result[0].message.startswith("inconclusive: ") for c in checks)
    assert (suite.errors, suite.failures, suite.skipped) == (1, 0, len(checks))


def test_data_rows_the_experiment_does_not_judge_are_skipped_cases(tmp_path: Path) -> None:
    summary = synthetic_summary(slo_data=False, facts=firings())[0]
    (suite,) = _parse(junit.render(summary), tmp_path)
    data = [c for c in suite if c.classname.endswith(".data")]
    assert len(data) == len(summary.data) == 2
    assert all(_results(c) == [Skipped] and "not judged" in c.result[0].message for c in data)


def _series(outages: list[float]) -> tuple[list[RunSummary], str]:
    summaries = [synthetic_summary(outage_s=o, seed=i + 1, run_id=f"r{i}", facts=firings())[0]
                 for i, o in enumerate(outages)]
    agg = aggregate([(s, SeriesRun(s.run_id, str(s.verdict.outcome), i, s.run_id)) for i, s in enumerate(summaries)],
                    experiment="pod-recreate", backend="local", series_id="x3", asked=3, interrupted=False)
    return summaries, junit.render_series(agg, summaries)


def test_a_flaky_series_is_one_suite_per_run_and_a_failed_series_case(tmp_path: Path) -> None:
    _, text = _series([0.03, 0.3, 0.03])
    suites = _parse(text, tmp_path)
    assert [s.name for s in suites] == ["chaoskit.pod-recreate.run1", "chaoskit.pod-recreate.run2",
                                        "chaoskit.pod-recreate.run3", "chaoskit.pod-recreate.series"]
    assert [s.failures > 0 for s in suites[:3]] == [False, True, False]
    (verdict,) = list(suites[3])
    (failure,) = verdict.result
    assert isinstance(failure, Failure) and failure.type == "flaky"
    assert failure.message == "FLAKY: passed 2 of 3 (1 failed)"
