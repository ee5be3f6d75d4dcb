"""The verdict as JUnit XML (junit.xml): one test case per SLO check, so CI systems show each one."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from chaoskit.analysis.summary import RunSummary


def render(summary: RunSummary) -> str:
    """A ``<testsuites>`` document; an aborted run adds a failed ``run`` case."""
    checks = summary.verdict.checks
    failures = sum(not c.passed for c in checks) + int(summary.verdict.aborted)
    suites = ET.Element("testsuites")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"chaoskit.{summary.experiment}",
        tests=str(len(checks) + 1),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    ET.SubElement(suite, "properties").extend(
        ET.Element("property", name=k, value=v) for k, v in (("run_id", summary.run_id), ("backend", summary.backend))
    )
    run = ET.SubElement(suite, "testcase", classname=f"chaoskit.{summary.experiment}", name="run")
    if summary.verdict.aborted:
        ET.SubElement(run, "failure", message="aborted before the experiment finished")
    for check in checks:
        case = ET.SubElement(
            suite, "testcase", classname=f"chaoskit.{summary.experiment}.{check.slo}",
            name=check.scope,
        )  # fmt: skip
        if not check.passed:
            ET.SubElement(case, "failure", message=check.detail, type=check.slo)
        else:
            ET.SubElement(case, "system-out").text = check.detail
    for warning in summary.verdict.warnings:
        ET.SubElement(suite, "system-err").text = f"warning: {warning}"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
