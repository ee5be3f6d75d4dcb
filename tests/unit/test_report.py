"""The Markdown and terminal reports: every section present, with the summary's numbers in it."""

from __future__ import annotations

import re

import numpy as np
import pytest
from rich.console import Console

from chaoskit import __version__
from chaoskit.analysis import RunSummary, SloTargets, summarize
from chaoskit.analysis.synthetic import (
    T0_NS,
    Outage,
    PodDeleteScript,
    events_frame,
    pod_delete_events,
    requests_from,
    synthetic_requests,
)
from chaoskit.checks.results import DataCheckResult
from chaoskit.cluster.protocol import EventKind
from chaoskit.report import markdown, terminal

pytestmark = pytest.mark.unit
PHASES = [("baseline", 5.0), ("chaos", 20.0), ("recovery", 8.0)]
SECTIONS = (
    "# chaoskit report: pod-recreate", "## Verdict: **FAIL**", "## Availability", "## Unavailability windows",
    "## Recovery", "## Latency", "## Data survival", "## Pod churn", "## Load agent health",
    "## SLO checks", "## How to read this",
)  # fmt: skip


@pytest.fixture(scope="module")
def summary() -> RunSummary:
    requests = synthetic_requests(
        duration_s=33, rate=100, outages=[Outage("ClusterIP", 11.0, 11.5), Outage("NodePort", 17, 17.2)]
    )
    events = pod_delete_events(PodDeleteScript((11.0, 17.0, 23.0), replacement_ready_s=2.0), phases=PHASES)
    # The last replacement becomes Ready at 25 s; cut the timeline at 24 s so it never recovers.
    cut = [e for e in events if e.kind == EventKind.PHASE or e.ts_ns < T0_NS + 24 * 10**9]
    data = [
        DataCheckResult("scratch", "emptyDir", "pod-delete", "pod-replaced", "same-node", False, "lost",
                        "a", "b", "n1", "n1"),
        DataCheckResult("node-data", "hostPath", "pod-delete", "pod-replaced", "other-node", True, "lost",
                        "a", "c", "n1", "n2"),
    ]  # fmt: skip
    return summarize(
        requests, events_frame(cut), data, SloTargets(availability=0.99, recovery_s=5.0),
        experiment="pod-recreate", backend="local", run_id="run-42", aborted=False,
        agent={"cpu_utilisation": 0.3},
    )  # fmt: skip


def test_markdown_has_every_section_in_order(summary: RunSummary) -> None:
    text = markdown.render(summary)
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)


def test_markdown_header_names_the_chaoskit_that_made_the_run(summary: RunSummary) -> None:
    header = markdown.render(summary).split("\n\n## ", 1)[0]
    assert f"with chaoskit {__version__} ·" in header
    assert "with chaoskit 9.8.7 ·" in markdown.render(summary, version="9.8.7").split("\n\n## ", 1)[0]


def test_markdown_shows_the_numbers(summary: RunSummary) -> None:
    text = markdown.render(summary)
    ci = summary.overall("ClusterIP")
    assert f"98.485% ({ci.failed}/{ci.requests})" in text
    assert "| ClusterIP | 100.000% (0/500) | 97.500% (50/2000) | 100.000% (0/800) |" in text
    assert "Failures by outcome:\n- ClusterIP: refused 50\n- NodePort: refused 20" in text
    longest = next(w for w in summary.windows if w.service_type == "ClusterIP").longest
    assert longest is not None
    assert (f"| ClusterIP | ClusterIP | t+11.001 s | t+11.500 s | {longest.duration_s:.3f} s | 50 | refused 50 |"
            in text)  # fmt: skip
    assert re.search(
        r"\| pod-delete-0#0 \| pod-delete \| t\+11\.000 s \| chaoskit-target-5d8f-p0 \| "
        r"0\.050 s \| 2\.000 s \| 2\.300 s \| 0\.49\d s \| 0\.500 s \| 50 \|",
        text,
    )
    assert (
        "| pod-delete-0#2 | pod-delete | t+23.000 s | chaoskit-target-5d8f-p2 | 0.050 s | never | never | none | none "
        "| 0 |" in text
    )
    assert "**Never recovered:**\n- pod-delete-0#2: never recovered on replacement_ready, endpoints_converged" in text
    assert "Failures before any fault (completed before the first fault instant: baseline noise): 0." in text
    assert "Recovery observed: the last failed request started 15.810 s before the end of recovery" in text
    row = next(r for r in summary.latency if r.service_type == "NodePort" and r.phase == "chaos")
    assert f"| NodePort | chaos | {row.ok} | 20 | {row.p50_ms:.1f} | {row.p95_ms:.1f} | {row.p99_ms:.1f} |" in text
    assert "| node-data | hostPath | pod-delete | other-node | survived | lost | **NO** |" in text
    assert "| scratch | emptyDir | pod-delete | same-node | lost | lost | yes |" in text
    assert "- pods created: 3; deleted: 3" in text
    assert "- pods Ready at some moment of the phases: 5; their IPs: 5" in text
    assert "- agent CPU: 30%" in text
    for reason in summary.verdict.reasons:
        assert f"- {reason}" in text


def test_markdown_never_rounds_a_failure_to_full_availability() -> None:
    n = 2_000_000
    ok = np.ones(n, dtype=bool)
    ok[5] = False
    summary = summarize(
        requests_from(np.arange(n, dtype=np.int64) * 1000 + T0_NS, ok),
        events_frame(pod_delete_events(PodDeleteScript(()), phases=[])),
        [], SloTargets(), experiment="x", backend="local", run_id="r", aborted=False, agent=None,
    )  # fmt: skip
    text = markdown.render(summary)
    assert ">99.999% (1/2000000)" in text
    assert "No fault was injected." in text
    assert "No data checks in this experiment." in text
    assert "## Verdict: **PASS**" in text


def test_terminal_tables_carry_the_same_numbers(summary: RunSummary) -> None:
    console = Console(record=True, width=160, color_system=None)
    terminal.render(summary, console)
    text = console.export_text()
    assert text.startswith("pod-recreate: FAIL: availability ClusterIP: 98.485% < 99.000%")
    assert "(and 2 more below)  (run-42)" in text
    assert "98.485% (50/3300)" in text
    assert re.search(r"pod-delete-0#2\s+│\s+0\.050 s\s+│\s+never\s+│\s+never\s+│\s+none\s+│\s+none", text)
    assert "node-data" in text and "NO" in text
    for reason in summary.verdict.reasons:
        assert reason in text


def test_junit_has_one_case_per_slo_check_and_marks_failures(summary: RunSummary) -> None:
    import xml.etree.ElementTree as ET

    from chaoskit.report import junit

    root = ET.fromstring(junit.render(summary))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(summary.verdict.checks) + 1
    failed = [c.find("failure") for c in cases if c.find("failure") is not None]
    assert suite.get("failures") == str(len(failed)) == str(len(summary.verdict.reasons))
    assert {f.get("message") for f in failed if f is not None} == set(summary.verdict.reasons)


def test_markdown_says_when_endpoints_were_read_from_the_control_plane(summary: RunSummary) -> None:
    import dataclasses

    assert "control plane" not in markdown.render(summary)
    faults = tuple(dataclasses.replace(f, endpoints_source="control-plane") for f in summary.recovery)
    text = markdown.render(dataclasses.replace(summary, recovery=faults))
    assert "Endpoints converged is read from the Services' ready endpoints (control plane)" in text


def test_at_80_columns_fault_names_stay_whole(summary: RunSummary) -> None:
    console = Console(record=True, width=80, color_system=None)
    terminal.render(summary, console)
    text = console.export_text()
    for fault in summary.recovery:
        assert fault.name in text, f"{fault.name} cut at 80 columns"
    assert "…" not in text
