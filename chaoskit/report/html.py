"""report.html for one run: the verdict headline, the key numbers with their definitions, the findings, the
charts (requests per address, latency, recovery, data survival, load-agent health), then the whole of report.md.

Charts are drawn with matplotlib into inline SVG at write time (docs/reports.md says why). Definitions are the
ones of report.md's "How to read this"; the full text of that section is at the end of the page.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from chaoskit.analysis.frames import Columns, count_codes, row_chunks, run_end_ns
from chaoskit.analysis.stored import StoredTable
from chaoskit.analysis.summary import RunSummary, in_passes
from chaoskit.report import charts, svg
from chaoskit.report.charts import Chart
from chaoskit.report.evidence import headline
from chaoskit.report.fmt import DASH, ms, pct, secs
from chaoskit.report.page import Section, esc, figure, markdown_html, page, table
from chaoskit.report.recovery_chart import recovery as recovery_chart


def render(summary: RunSummary, requests: pd.DataFrame | StoredTable, events: pd.DataFrame, *, report_md: str,
           load: str = "", seed: int | None = None, version: str = "") -> str:
    """The page. ``report_md``: the run's report.md (shown in full at the end, without its headline line).
    ``requests``: every request, the unsent ones too (the agent chart shows them)."""
    cols = in_passes(requests).columns(summary.phases, sent_only=False)
    found = all_charts(summary, cols, events)
    meta = (f"<b>{esc(summary.experiment)}</b> · run <code>{esc(summary.run_id)}</code> · {esc(summary.backend)} "
            f"backend · chaoskit {esc(version or 'unknown')} · {summary.requests:,} requests"
            + (f"<br>Load: {esc(load)}" if load else "") + (f" · seed {seed}" if seed is not None else ""))
    by_kind: dict[str, list[Chart]] = defaultdict(list)
    for chart in found:
        by_kind[chart.kind].append(chart)
    sections = [
        Section("numbers", "Key numbers", _cards(summary)),
        Section("findings", "Findings: why, and what to change", findings_html(summary)),
        Section("timelines", "Requests over time", _figures(by_kind["timeline"], "No request was recorded.")),
        Section("latency", "Latency over time", _figures(by_kind["latency"], "No successful request.")),
        Section("recovery", "Recovery", _figures(by_kind["recovery"], "No fault was injected.")),
        Section("data", "Data survival", data_matrix(summary)),
        Section("agent", "Load-agent health", _figures(by_kind["agent"], "") + _agent_numbers(summary)),
        Section("details", "Full report", f'<div class="details">{markdown_html(_without_headline(report_md))}</div>'),
    ]
    return page(title=f"chaoskit {summary.experiment}: {summary.verdict.outcome}", headline=headline(summary),
                outcome=str(summary.verdict.outcome), meta=meta, sections=sections, version=version or "unknown")


def failed(summary: RunSummary, exc: BaseException) -> str:
    """The page written when the charts could not be drawn: the headline, the error and how to retry."""
    body = (f"<p>The charts could not be drawn: <code>{esc(type(exc).__name__)}: {esc(exc)}</code>.</p>"
            "<p>The run's data and report.md are saved; <code>chaoskit report RUN_DIR --html</code> draws this page "
            "again (please report the error).</p>")
    return page(title=f"chaoskit {summary.experiment}: {summary.verdict.outcome}", headline=headline(summary),
                outcome=str(summary.verdict.outcome), meta=esc(summary.run_id),
                sections=[Section("error", "Report not drawn", body)])


def all_charts(summary: RunSummary, cols: Columns, events: pd.DataFrame) -> list[Chart]:
    """Every chart of the page, in page order."""
    with svg.style():
        return _charts(summary, cols, events)


def _charts(summary: RunSummary, cols: Columns, events: pd.DataFrame) -> list[Chart]:
    axis = charts.time_axis(summary, cols)
    pods = charts.PodEvents.from_events([str(k) for k in events["kind"]], [int(t) for t in events["ts_ns"]], axis) \
        if len(events) else charts.PodEvents(())
    order = sorted(range(len(cols.addresses)), key=lambda a: (cols.types[int(cols.address_type[a])],
                                                              cols.addresses[a]))
    seen = np.zeros(len(cols.addresses), dtype=np.int64)
    for rows in row_chunks(len(cols)):
        seen += count_codes(cols.address_code[rows], len(cols.addresses))
    found = [charts.timeline(axis, cols, a, pods, i) for i, a in enumerate(order) if seen[a]]
    found += [charts.latency(axis, cols, t, t) for t in range(len(cols.types))]
    if summary.recovery:
        found.append(recovery_chart(summary, run_end_ns(cols, summary.phases)))
    if len(cols):
        found.append(charts.agent(axis, cols, summary))
    return found


def findings_html(summary: RunSummary) -> str:
    """Each finding with its evidence, the mechanism, and the change as YAML (docs/findings.md)."""
    if not summary.findings:
        return "<p>No finding: nothing in this run's evidence calls for a change.</p>"
    parts = []
    for f in summary.findings:
        evidence = "".join(f"<li>{esc(line)}</li>" for line in f.evidence.lines)
        snippet = f"<pre><code>{esc(f.snippet)}</code></pre>" if f.snippet else ""
        parts.append(f'<div class="finding"><p><b><code>{esc(f.rule)}</code></b> ({esc(f.confidence)} confidence: '
                     f"{esc(f.confidence_basis)}) on {esc(f.workload)}: {esc(f.headline)}</p><ul>{evidence}</ul>"
                     f"<p>{esc(f.mechanism)}</p><p><b>Change:</b> {esc(f.recommendation)}</p>{snippet}</div>")
    return "".join(parts)


def _figures(found: list[Chart], empty: str) -> str:
    return "".join(figure(c) for c in found) or (f"<p>{esc(empty)}</p>" if empty else "")


def _without_headline(report_md: str) -> str:
    first, _, rest = report_md.partition("\n\n")
    return rest if first.startswith("**") else report_md


def _card(label: str, value: str, detail: str, definition: str) -> str:
    return (f'<div class="card" title="{esc(definition)}"><div class="label">{esc(label)}</div>'
            f'<div class="value">{esc(value)}</div><small>{esc(detail)}</small><small>{esc(definition)}</small></div>')


def _cards(s: RunSummary) -> str:
    cards = []
    for service_type in s.service_types:
        row = s.overall(service_type)
        cards.append(_card(f"Availability {service_type}", pct(row.ratio, failed=row.failed),
                           f"{row.failed:,} of {row.requests:,} failed" + (
                               f" · SLO {s.slo.availability * 100:g} %" if s.slo.availability else ""),
                           "ok requests / requests scheduled, over the whole run"))
    for w in s.windows:
        longest = w.longest
        cards.append(_card(f"Longest window {w.service_type}", secs(longest.duration_s) if longest else DASH,
                           f"{w.count} window(s), unavailable {secs(w.unavailable_s)}" + (
                               f", {w.open} open at the end" if w.open else ""),
                           "start of a failed request to the start of the next success on the same address"))
    for service_type, p99 in s.slo_p99_ms.items():
        cards.append(_card(f"p99 {service_type}", f"{ms(p99)} ms" if p99 is not None else DASH,
                           "chaos + recovery, successful requests" + (
                               f" · SLO {s.slo.p99_latency_s * 1000:g} ms" if s.slo.p99_latency_s else ""),
                           "99th percentile of the raw latencies (start to last byte)"))
    if s.recovery:
        never = [f.name for f in s.recovery if f.never_recovered]
        worst = max((f.recovery_s for f in s.recovery if f.recovery_s is not None), default=None)
        cards.append(_card("Worst recovery", "never" if never else secs(worst),
                           f"{len(s.recovery)} fault(s)" + (f"; never recovered: {', '.join(never)}" if never else ""),
                           "the longest recovery clock of any fault (what the recovery SLO judges)"))
    return f'<div class="cards">{"".join(cards)}</div>'


def data_matrix(s: RunSummary) -> str:
    """Volume x (fault, placement): what was observed against what was expected, one cell per combination."""
    if not s.data:
        return "<p>No data checks in this experiment.</p>"
    columns = sorted({(d.fault, d.placement) for d in s.data})
    volumes = sorted({(d.volume, d.volume_type) for d in s.data})
    rows, classes = [], []
    for volume, volume_type in volumes:
        row, names = [f"{esc(volume)} <small>({esc(volume_type)})</small>"], [""]
        for fault, placement in columns:
            found = [d for d in s.data if (d.volume, d.fault, d.placement) == (volume, fault, placement)]
            if not found:
                row.append(DASH)
                names.append("")
                continue
            survived = sum(d.survived for d in found)
            expected = sorted({d.expected for d in found})
            good = all(d.as_expected for d in found)
            row.append(f"survived {survived} of {len(found)}<br><small>expected: {esc(', '.join(expected))}"
                       f"</small>" + ("" if good else "<br>NOT AS EXPECTED"))
            names.append("either" if expected == ["any"] else "good" if good else "bad")
        rows.append(row)
        classes.append(names)
    headers = ["Volume", *(f"{esc(f)}<br><small>{esc(p)}</small>" for f, p in columns)]
    return (table(headers, rows, classes=classes) + "<p><small>A marker file written before the fault, read after "
            "it from the replacement (placement: where the replacement ran relative to the victim). Green: as "
            "expected; red: not as expected; grey: either was accepted.</small></p>")


def _agent_numbers(s: RunSummary) -> str:
    a = s.agent
    cpu = DASH if a.cpu_utilisation is None else f"{a.cpu_utilisation * 100:.0f}%"
    rows = [
        ["state", "<b>saturated</b>: latency and failures may be the client's" if a.saturated else "kept its schedule"],
        ["late starts (> 10 ms behind schedule)", f"{a.late_starts:,} of {a.requests:,} ({pct(a.late_ratio)})"],
        ["start lag p50 / p99 / max", f"{ms(a.lag_p50_ms)} / {ms(a.lag_p99_ms)} / {ms(a.lag_max_ms)} ms"],
        ["agent CPU", cpu],
        ["requests planned / not sent", f"{DASH if a.planned is None else f'{a.planned:,}'} / {a.not_sent:,}"],
    ]
    return table(["Load agent", ""], [[esc(k), v] for k, v in rows])


__all__ = ["all_charts", "data_matrix", "render"]
