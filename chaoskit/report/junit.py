"""The verdict as JUnit XML (``--junit FILE``): one test case per SLO check and per data-survival row, so a CI
system shows each one (docs/reports.md, "JUnit").

* a passed check is a passed case (its detail in ``system-out``); a failed one carries ``<failure>`` with the
  measured value and the threshold;
* an INCONCLUSIVE run: the ``run`` case has ``<error type="inconclusive">`` (the experiment could not produce
  evidence: an error of the test, not a failure of the service) and every check is ``<skipped>`` with the
  reason, because its numbers are not evidence either way. An aborted run is the same with ``type="aborted"``;
* data rows the experiment does not judge (``slo.data: false``) are skipped cases that still show what happened;
* a repeat series is one ``<testsuite>`` per run plus a ``series`` suite whose one case is the verdict over the
  runs (FLAKY is a ``<failure type="flaky">``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from chaoskit.analysis.repeats import Aggregate, SeriesOutcome
from chaoskit.analysis.summary import RunSummary
from chaoskit.analysis.verdict import Outcome, SloCheck

HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'


def render(summary: RunSummary) -> str:
    """A ``<testsuites>`` document with the run's suite."""
    suites = ET.Element("testsuites", name=f"chaoskit.{summary.experiment}")
    suites.append(run_suite(summary))
    return _document(suites)


def render_series(agg: Aggregate, summaries: Sequence[RunSummary]) -> str:
    """One suite per run, then the ``series`` suite with the verdict over the runs."""
    suites = ET.Element("testsuites", name=f"chaoskit.{agg.experiment}.x{agg.verdict.asked}")
    for i, summary in enumerate(summaries):
        suites.append(run_suite(summary, name=f"chaoskit.{summary.experiment}.run{i + 1}"))
    suites.append(_series_suite(agg))
    return _document(suites)


def run_suite(summary: RunSummary, *, name: str | None = None) -> ET.Element:
    classname = f"chaoskit.{summary.experiment}"
    cases = [_run_case(summary, classname)]
    void = _void_reason(summary)
    for check in summary.verdict.checks:
        cases.append(_check_case(check, classname, void))
    if not summary.slo.data:
        for d in summary.data:
            case = ET.Element("testcase", classname=f"{classname}.data",
                              name=f"{d.volume} ({d.volume_type}) after {d.fault}, {d.placement}")
            ET.SubElement(case, "skipped", message=(
                f"not judged (slo.data is false): {'survived' if d.survived else 'lost'}, expected {d.expected}"))
            cases.append(case)
    suite = ET.Element("testsuite", name=name or classname, tests=str(len(cases)),
                       failures=str(_count(cases, "failure")), errors=str(_count(cases, "error")),
                       skipped=str(_count(cases, "skipped")), time=f"{sum(p.duration_s for p in summary.phases):.3f}")
    properties = ET.SubElement(suite, "properties")
    for key, value in (("run_id", summary.run_id), ("backend", summary.backend),
                       ("outcome", str(summary.verdict.outcome))):
        ET.SubElement(properties, "property", name=key, value=value)
    suite.extend(cases)
    if summary.verdict.warnings:
        ET.SubElement(suite, "system-err").text = "\n".join(f"warning: {w}" for w in summary.verdict.warnings)
    return suite


def _void_reason(summary: RunSummary) -> str:
    """Why the checks are not evidence ('' when they are)."""
    verdict = summary.verdict
    if verdict.outcome == Outcome.ABORTED:
        return "aborted before the experiment finished"
    if verdict.outcome == Outcome.INCONCLUSIVE:
        return f"inconclusive: {'; '.join(verdict.inconclusive)}"
    return ""


def _run_case(summary: RunSummary, classname: str) -> ET.Element:
    case = ET.Element("testcase", classname=classname, name="run")
    verdict = summary.verdict
    if verdict.outcome in (Outcome.ABORTED, Outcome.INCONCLUSIVE):
        kind = "aborted" if verdict.outcome == Outcome.ABORTED else "inconclusive"
        error = ET.SubElement(case, "error", type=kind, message=_void_reason(summary))
        error.text = "\n".join(verdict.inconclusive or ("stopped by the user; partial results",))
    else:
        ET.SubElement(case, "system-out").text = f"{verdict.outcome}: run {summary.run_id}"
    return case


def _check_case(check: SloCheck, classname: str, void: str) -> ET.Element:
    case = ET.Element("testcase", classname=f"{classname}.{check.slo}", name=check.scope)
    if void:
        ET.SubElement(case, "skipped", message=f"{void} (measured: {check.detail})")
    elif not check.passed:
        failure = ET.SubElement(case, "failure", message=check.detail, type=check.slo)
        failure.text = f"measured: {measured(check)}\nthreshold: {threshold(check)}"
    else:
        ET.SubElement(case, "system-out").text = check.detail
    return case


def measured(check: SloCheck) -> str:
    if check.measured is None:
        return "nothing measured" if check.slo != "recovery" else "never recovered"
    if check.slo == "availability":
        return f"{check.measured * 100:.3f}%"
    if check.slo == "p99_latency":
        return f"{check.measured:g} ms"
    if check.slo == "recovery":
        return f"{check.measured:g} s"
    return "survived" if check.measured else "lost"


def threshold(check: SloCheck) -> str:
    if check.slo == "availability" and check.target is not None:
        return f">= {check.target * 100:g}%"
    if check.slo == "p99_latency" and check.target is not None:
        return f"<= {check.target:g} ms"
    if check.slo == "recovery" and check.target is not None:
        return f"<= {check.target:g} s"
    expected = check.detail.rsplit("expected ", 1)[-1] if "expected " in check.detail else "as expected"
    return expected


def _series_suite(agg: Aggregate) -> ET.Element:
    classname = f"chaoskit.{agg.experiment}"
    case = ET.Element("testcase", classname=f"{classname}.series", name=f"verdict over {agg.verdict.asked} runs")
    outcome, sentence = agg.verdict.outcome, agg.verdict.sentence
    if outcome == SeriesOutcome.PASS:
        ET.SubElement(case, "system-out").text = sentence
    elif outcome in (SeriesOutcome.FAIL, SeriesOutcome.FLAKY):
        ET.SubElement(case, "failure", type=outcome.lower(), message=sentence).text = agg.verdict.rule
    else:
        ET.SubElement(case, "error", type=outcome.lower(), message=sentence).text = agg.verdict.rule
    suite = ET.Element("testsuite", name=f"{classname}.series", tests="1", failures=str(_count([case], "failure")),
                       errors=str(_count([case], "error")), skipped="0")
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="series_id", value=agg.series_id)
    suite.append(case)
    return suite


def _count(cases: list[ET.Element], tag: str) -> int:
    return sum(case.find(tag) is not None for case in cases)


def _document(root: ET.Element) -> str:
    ET.indent(root)
    return HEADER + ET.tostring(root, encoding="unicode") + "\n"
