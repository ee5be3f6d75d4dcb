"""Findings between two sets of runs: gone, appeared, still there, with the runs and failures of each side."""

from __future__ import annotations

import dataclasses

from chaoskit.analysis import RunSummary
from chaoskit.analysis.comparison import compare
from chaoskit.analysis.finding_changes import finding_changes
from chaoskit.analysis.findings.model import Evidence, Finding
from chaoskit.report import compare as compare_report
from tests.reports_support import firings, synthetic_summary


def _finding(rule: str, failures: int, workload: str = "Deployment web") -> Finding:
    return Finding(rule=rule, headline=rule, workload=workload, evidence=Evidence(failures=failures),
                   mechanism="", recommendation="", snippet="", confidence="high", confidence_basis="")


def _run(run_id: str, *found: Finding) -> RunSummary:
    summary = synthetic_summary(run_id=run_id, facts=firings())[0]
    return dataclasses.replace(summary, findings=found)


def test_gone_appeared_and_still_are_counted_per_rule_and_object() -> None:
    base = [_run("b0", _finding("shutdown-race", 12), _finding("single-replica", 0)),
            _run("b1", _finding("shutdown-race", 9))]
    candidate = [_run("c0", _finding("single-replica", 0), _finding("colocated-replicas", 4)), _run("c1")]
    changes = {(c.rule, c.status): c for c in finding_changes(base, candidate)}
    assert set(changes) == {("shutdown-race", "gone"), ("colocated-replicas", "appeared"),
                            ("single-replica", "still")}
    race = changes[("shutdown-race", "gone")]
    assert (race.base_runs, race.base_failures, race.candidate_runs, race.candidate_failures) == (2, 21, 0, 0)
    assert [c.status for c in finding_changes(base, candidate)] == ["gone", "appeared", "still"]


def test_the_same_rule_on_two_objects_is_two_findings() -> None:
    base = [_run("b0", _finding("shutdown-race", 3, "Deployment a"), _finding("shutdown-race", 5, "Deployment b"))]
    changes = finding_changes(base, [_run("c0", _finding("shutdown-race", 2, "Deployment b"))])
    assert [(c.workload, c.status) for c in changes] == [("Deployment a", "gone"), ("Deployment b", "still")]


def test_the_comparison_report_lists_them() -> None:
    result = compare([_run("b0", _finding("shutdown-race", 12))], [_run("c0")])
    text = compare_report.markdown(result)
    assert "| shutdown-race | Deployment web | gone | 1 of 1 | 12 | 0 of 1 | 0 |" in text
    assert "shutdown-race" in compare_report.html(result)
    assert "No finding on either side." in compare_report.markdown(compare([_run("b0")], [_run("c0")]))
