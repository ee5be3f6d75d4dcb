"""The report of a repeat series (``runs/<time>-<name>-x<N>/``): the verdict over the runs, then each metric's
mean and 95 % interval over the conclusive runs, in Markdown, in the terminal and as HTML."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from chaoskit.analysis.repeats import RULE, Aggregate, MetricStats
from chaoskit.analysis.stats import FEW
from chaoskit.report import svg
from chaoskit.report.charts import Chart
from chaoskit.report.markdown import table as md_table
from chaoskit.report.page import Section, esc, figure, page, table
from chaoskit.report.values import interval, label, title_of, unit_of, value

METHOD = ("Mean over the conclusive runs (PASS or FAIL) and its 95 % confidence interval: a seeded expanded-"
          "percentile bootstrap (10,000 resamples), so the same runs always give the same interval. "
          f"≈: fewer than {FEW} runs, the interval is approximate. Never: runs whose clock never stopped (left "
          "out of the mean).")


def headline(agg: Aggregate) -> str:
    return agg.verdict.sentence


def _values(stats: MetricStats) -> str:
    return ", ".join(value(stats.metric, v) if v is not None else "never" for v in stats.values) or "-"


def _metric_rows(agg: Aggregate) -> list[list[str]]:
    return [[title_of(m.metric), m.scope, value(m.metric, m.interval.estimate if m.interval else None),
             interval(m.metric, m.interval), str(len([v for v in m.values if v is not None])),
             str(m.never) if m.never else "-", _values(m)] for m in agg.metrics]


def _run_rows(agg: Aggregate) -> list[list[str]]:
    return [[str(i + 1), r.run_id, "-" if r.seed is None else str(r.seed), r.outcome, r.headline]
            for i, r in enumerate(agg.runs)]


METRIC_HEADERS = ["Metric", "Scope", "Mean", "95 % interval", "Runs", "Never", "Per run"]
RUN_HEADERS = ["#", "Run", "Seed", "Outcome", "Headline"]


def markdown(agg: Aggregate) -> str:
    """The aggregate's report.md."""
    v = agg.verdict
    parts = [
        f"**{headline(agg)}**",
        f"# chaoskit repeats: {agg.experiment}\n\nSeries `{agg.series_id}` on the `{agg.backend}` backend: "
        f"{v.runs} of {v.asked} runs; passed {v.passed}, failed {v.failed}, inconclusive {v.inconclusive}"
        + (f", aborted {v.aborted}" if v.aborted else "") + ".",
        f"## Verdict over the runs: **{v.outcome}**\n\n{RULE}",
        "## Runs\n\n" + md_table(RUN_HEADERS, _run_rows(agg), align="rllll"),
        "## Metrics\n\n" + METHOD + "\n\n" + (md_table(METRIC_HEADERS, _metric_rows(agg), align="llrrrrl")
                                               if agg.metrics else "No conclusive run: nothing to summarise."),
    ]
    return "\n\n".join(parts) + "\n"


def terminal(agg: Aggregate, console: Console) -> None:
    console.print(f"[bold]{agg.experiment}: {headline(agg)}[/] ({agg.series_id})")
    runs = Table(*RUN_HEADERS[:4], title="Runs (each run's reason: its report.md)", title_justify="left")
    for row in _run_rows(agg):
        runs.add_row(*row[:4])
    console.print(runs)
    if agg.metrics:
        metrics = Table(*METRIC_HEADERS[:6], title="Mean and 95 % interval over the conclusive runs",
                        title_justify="left")
        for row in _metric_rows(agg):
            metrics.add_row(*row[:6])
        console.print(metrics)


def html(agg: Aggregate) -> str:
    """The aggregate's report.html: the verdict, the runs (linked to their own reports), the metrics."""
    v = agg.verdict
    runs = [[str(i + 1), f'<a href="{esc(r.dir)}/report.html">{esc(r.run_id)}</a>',
             "-" if r.seed is None else str(r.seed), esc(r.outcome), esc(r.headline)] for i, r in enumerate(agg.runs)]
    charts = "".join(figure(c) for c in repeat_charts(agg))
    metrics = table(METRIC_HEADERS, [[esc(c) for c in row] for row in _metric_rows(agg)], numeric="llrrrrl")
    sections = [
        Section("verdict", "Verdict over the runs", f"<p>{esc(RULE)}</p>"),
        Section("runs", "Runs", table(RUN_HEADERS, runs)),
        Section("metrics", "Metrics", f"<p>{esc(METHOD)}</p>{charts}{metrics if agg.metrics else ''}"),
    ]
    meta = (f"<b>{esc(agg.experiment)}</b> · series <code>{esc(agg.series_id)}</code> · {esc(agg.backend)} backend · "
            f"{v.runs} of {v.asked} runs")
    return page(title=f"chaoskit {agg.experiment} x{v.asked}: {v.outcome}", headline=headline(agg),
                outcome=v.outcome, meta=meta, sections=sections)


def repeat_charts(agg: Aggregate) -> list[Chart]:
    """Per unit, one row per metric: each run's value (dots), the mean (bar) and its interval (line)."""
    found = []
    with svg.style():
        for unit, title in (("ratio", "Availability per run"), ("s", "Seconds per run"), ("ms", "Latency per run")):
            rows = [m for m in agg.metrics if unit_of(m.metric) == unit and m.interval is not None]
            if rows:
                found.append(_forest(rows, unit, f"repeats-{unit}", title))
    return found


def _forest(rows: list[MetricStats], unit: str, chart_id: str, title: str) -> Chart:
    scale = 100.0 if unit == "ratio" else 1.0
    fig = svg.figure(0.9 + 0.28 * len(rows), left_in=3.2)
    ax = fig.subplots()
    marks = svg.Marks()
    for y, m in enumerate(rows):
        assert m.interval is not None
        values = [v * scale for v in m.values if v is not None]
        ax.plot(values, [y] * len(values), "o", color="#4e79a7", alpha=0.6, markersize=4)
        if m.interval.low is not None and m.interval.high is not None:
            line = ax.plot([m.interval.low * scale, m.interval.high * scale], [y, y], color="#1d2430", linewidth=2)
            line[0].set_gid(marks.add(f"ci-{y}", f"{label(m.metric, m.scope)}: mean "
                                      f"{value(m.metric, m.interval.estimate)}, 95 % {interval(m.metric, m.interval)}",
                                      **{"class": "interval"}))
        ax.plot([m.interval.estimate * scale], [y], "|", color="#c0392b", markersize=14, markeredgewidth=2)
    ax.set_yticks(range(len(rows)), [label(m.metric, m.scope) for m in rows])
    ax.invert_yaxis()
    ax.set_xlabel({"ratio": "percent", "s": "seconds", "ms": "milliseconds"}[unit])
    caption = ("Dots: each conclusive run's value. Red tick: the mean. Black line: its 95 % confidence interval "
               "(expanded-percentile bootstrap).")
    return Chart(chart_id, "repeats", title, svg.to_svg(fig, chart_id, marks), caption)
