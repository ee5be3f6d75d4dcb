"""``chaoskit compare`` output: every metric of base and candidate side by side, the difference with its 95 %
interval, significance and regressions (analysis/comparison.py defines them), in the terminal, Markdown, HTML."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from chaoskit.analysis.comparison import Comparison, MetricComparison, Side
from chaoskit.report import svg
from chaoskit.report.charts import Chart
from chaoskit.report.markdown import table as md_table
from chaoskit.report.page import Section, esc, figure, page, table
from chaoskit.report.values import change, delta, interval, label, title_of, unit_of, value

HEADERS = ["Metric", "Scope", "Base", "Candidate", "Difference", "95 % interval", "Change", "Significant",
           "Regression"]  # fmt: skip
METHOD = ("Base and candidate: mean over each side's conclusive runs. Difference: candidate minus base, with a "
          "95 % interval from a seeded bootstrap over the runs of both sides; 'significant' when the interval "
          "excludes zero. Change: relative, positive = worse (for availability: the change of the failed share). "
          "Regression: a judged metric (availability, longest window, p99, recovery) worse by more than the "
          "--fail-on-regression percentage, and significant; with single runs no interval exists and the point "
          "estimate decides (marked unconfirmed).")


def headline(c: Comparison) -> str:
    sides = f"{_side(c.base)} vs {_side(c.candidate)}"
    if c.regression_pct is None:
        worse = [r for r in c.rows if r.significant and (r.change_pct or 0) > 0]
        return f"COMPARED: {len(worse)} metric(s) significantly worse; {sides}"
    if c.regressions:
        first = c.regressions[0]
        more = len(c.regressions) - 1
        return (f"REGRESSION: {label(first.metric, first.scope)} {change(first.change_pct)}"
                + (f" (and {more} more)" if more else "") + f" beyond {c.regression_pct:g}%; {sides}")
    return f"NO REGRESSION beyond {c.regression_pct:g}%; {sides}"


def outcome(c: Comparison) -> str:
    """The page's colour: FAIL on a regression, PASS when the gate held, INCONCLUSIVE without a gate."""
    if c.regression_pct is None:
        return "INCONCLUSIVE"
    return "FAIL" if c.regressions else "PASS"


def _side(s: Side) -> str:
    return f"{s.label} passed {s.passed} of {s.runs}"


def _row(r: MetricComparison) -> list[str]:
    significant = "n/a" if r.significant is None else "yes" if r.significant else "no"
    regression = ("yes (unconfirmed)" if r.unconfirmed else "yes") if r.regression else "-"
    base = value(r.metric, r.base.estimate if r.base else None) + (f" (never {r.base_never})" if r.base_never else "")
    cand = value(r.metric, r.candidate.estimate if r.candidate else None) + (
        f" (never {r.candidate_never})" if r.candidate_never else "")
    diff = r.difference
    return [title_of(r.metric), r.scope, base, cand, delta(r.metric, diff.estimate if diff else None),
            interval(r.metric, diff, signed=True), change(r.change_pct), significant, regression]


def markdown(c: Comparison) -> str:
    parts = [f"**{headline(c)}**", f"# chaoskit compare: {c.experiment}",
             f"- base: `{c.base.label}`: {c.base.runs} run(s), passed {c.base.passed}, {c.base.used} used\n"
             f"- candidate: `{c.candidate.label}`: {c.candidate.runs} run(s), passed {c.candidate.passed}, "
             f"{c.candidate.used} used", *([("\n".join(f"- note: {n}" for n in c.notes))] if c.notes else []),
             METHOD, md_table(HEADERS, [_row(r) for r in c.rows], align="llrrrrrll")]
    return "\n\n".join(parts) + "\n"


def terminal(c: Comparison, console: Console) -> None:
    console.print(f"[bold]{c.experiment}: {headline(c)}[/]")
    for note in c.notes:
        console.print(f"[yellow]note:[/] {note}")
    grid = Table(*HEADERS)
    for r in c.rows:
        cells = _row(r)
        style = "bold red" if r.regression else "yellow" if r.significant and (r.change_pct or 0) > 0 else None
        grid.add_row(*cells, style=style)
    console.print(grid)


def html(c: Comparison) -> str:
    rows = [[esc(cell) for cell in _row(r)] for r in c.rows]
    classes = [["bad" if r.regression else ""] * len(HEADERS) for r in c.rows]
    notes = "".join(f"<li>{esc(n)}</li>" for n in c.notes)
    sections = [
        Section("sides", "What is compared",
                f"<ul><li>base <code>{esc(c.base.label)}</code>: {c.base.runs} run(s), passed {c.base.passed}, "
                f"{c.base.used} used</li><li>candidate <code>{esc(c.candidate.label)}</code>: {c.candidate.runs} "
                f"run(s), passed {c.candidate.passed}, {c.candidate.used} used</li>{notes}</ul><p>{esc(METHOD)}</p>"),
        Section("differences", "Differences", "".join(figure(ch) for ch in difference_charts(c))
                + table(HEADERS, rows, classes=classes, numeric="llrrrrrll")),
    ]
    return page(title=f"chaoskit compare {c.experiment}", headline=headline(c), outcome=outcome(c),
                meta=f"<b>{esc(c.experiment)}</b> · base <code>{esc(c.base.label)}</code> · candidate "
                     f"<code>{esc(c.candidate.label)}</code>", sections=sections)


def difference_charts(c: Comparison) -> list[Chart]:
    """Per unit: each metric's difference (dot) and its interval (line) around zero."""
    found = []
    with svg.style():
        for unit in ("ratio", "s", "ms"):
            rows = [r for r in c.rows if unit_of(r.metric) == unit and r.difference is not None]
            if rows:
                found.append(_chart(rows, unit))
    return found


def _chart(rows: list[MetricComparison], unit: str) -> Chart:
    scale = 100.0 if unit == "ratio" else 1.0
    chart_id = f"compare-{unit}"
    fig = svg.figure(0.9 + 0.28 * len(rows), left_in=3.2)
    ax = fig.subplots()
    marks = svg.Marks()
    ax.axvline(0, color="#777", linewidth=0.8)
    for y, r in enumerate(rows):
        d = r.difference
        assert d is not None
        color = "#c0392b" if r.regression else "#e67e22" if r.significant else "#4e79a7"
        if d.low is not None and d.high is not None:
            ax.plot([d.low * scale, d.high * scale], [y, y], color=color, linewidth=2)
        point = ax.plot([d.estimate * scale], [y], "o", color=color, markersize=5)
        point[0].set_gid(marks.add(f"diff-{y}", f"{label(r.metric, r.scope)}: {delta(r.metric, d.estimate)} "
                                   f"{interval(r.metric, d, signed=True)}", **{"class": "difference"}))
    ax.set_yticks(range(len(rows)), [label(r.metric, r.scope) for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel({"ratio": "candidate - base, percentage points", "s": "candidate - base, seconds",
                   "ms": "candidate - base, milliseconds"}[unit])
    caption = ("Dot: the difference of the means (candidate minus base); line: its 95 % interval (none with a "
               "single run per side). Red: a regression; orange: significant.")
    return Chart(chart_id, "compare", {"ratio": "Availability", "s": "Seconds", "ms": "Latency"}[unit], svg.to_svg(
        fig, chart_id, marks), caption)
