"""The run summary as rich tables for the terminal (the CLI prints them at the end of a run)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from chaoskit.analysis.availability import ALL_PHASES
from chaoskit.analysis.summary import RunSummary
from chaoskit.report.evidence import headline
from chaoskit.report.fmt import CLOCK_TITLES, DASH, clocks, ms, observation_line, pct, secs, verdict_word

_STYLE = {"PASS": "bold green", "FAIL": "bold red", "INCONCLUSIVE": "bold magenta", "ABORTED": "bold yellow"}


def render(summary: RunSummary, console: Console) -> None:
    """Print the verdict and the main tables to ``console`` (the caller owns the console)."""
    console.print(renderable(summary))


def renderable(summary: RunSummary) -> RenderableType:
    """Everything :func:`render` prints, as one rich renderable (for tests and embedding)."""
    parts: list[RenderableType] = [verdict(summary), *([findings_lines(summary)] if summary.findings else []),
                                   availability_table(summary)]
    if summary.by_target:
        parts.append(target_table(summary))
    if summary.recovery:
        parts.append(recovery_table(summary))
    parts.append(latency_table(summary))
    if summary.data:
        parts.append(data_table(summary))
    return Group(*parts)


def verdict(summary: RunSummary) -> Text:
    word = verdict_word(summary)
    text = Text.assemble((f"{summary.experiment}: ", "bold"), (headline(summary), _STYLE[word]),
                         f"  ({summary.run_id})")
    for reason in summary.verdict.inconclusive[1:]:
        text.append(f"\n  ? {reason}", style="magenta")
    for reason in summary.verdict.reasons[0 if summary.verdict.inconclusive else 1:]:
        text.append(f"\n  - {reason}", style="red")
    for warning in summary.verdict.warnings:
        text.append(f"\n  ! {warning}", style="yellow")
    observed = observation_line(summary)
    if observed is not None:
        text.append(f"\n  ! {observed}", style="yellow")
    for line in summary.happenings:
        text.append(f"\n  * {line}", style="cyan")
    return text


def findings_lines(summary: RunSummary) -> Text:
    """One line per finding: its rule id and headline (report.md has the evidence and the change)."""
    text = Text("Findings (report.md has the evidence and the change):", style="bold")
    for finding in summary.findings:
        text.append(f"\n  > {finding.rule}", style="bold cyan")
        text.append(f" [{finding.confidence}]: {finding.headline}")
    return text


def availability_table(summary: RunSummary) -> Table:
    phases = [p.name for p in summary.phases] + [ALL_PHASES]
    table = Table(title="Availability (failed/requests)", title_justify="left")
    table.add_column("Service type")
    for phase in phases:
        table.add_column(phase, justify="right")
    table.add_column("Longest window", justify="right")
    table.add_column("Unavailable", justify="right")
    cells = {(r.service_type, r.phase): r for r in summary.availability}
    windows = {w.service_type: w for w in summary.windows}
    for service_type in summary.service_types:
        row = [service_type]
        for phase in phases:
            r = cells.get((service_type, phase))
            row.append(DASH if r is None else f"{pct(r.ratio, failed=r.failed)} ({r.failed}/{r.requests})")
        stats = windows.get(service_type)
        longest = stats.longest if stats else None
        row.append(DASH if longest is None else secs(longest.duration_s) + (" open" if longest.open else ""))
        row.append(secs(stats.unavailable_s) if stats and stats.count else DASH)
        table.add_row(*row)
    return narrow_safe(table)


def target_table(summary: RunSummary) -> Table:
    table = Table(title="By address (failed/requests)", title_justify="left")
    table.add_column("Service type")
    table.add_column("Address", no_wrap=True, min_width=whole("Address", (r.target for r in summary.by_target)))
    table.add_column("Availability", justify="right")
    table.add_column("Failures")
    for r in summary.by_target:
        table.add_row(r.service_type, r.target, f"{pct(r.ratio, failed=r.failed)} ({r.failed}/{r.requests})",
                      ", ".join(f"{k} {v}" for k, v in r.failures_by_outcome.items()) or DASH)
    return narrow_safe(table)


def narrow_safe(table: Table) -> Table:
    """Fold, never cut: on a narrow terminal a long value wraps onto the next line instead of ending in an
    ellipsis, and the first (identifying) column keeps its values whole."""
    for index, column in enumerate(table.columns):
        column.overflow = "fold"
        if index == 0:
            cells = [str(c) for c in column.cells]
            column.min_width = max(column.min_width or 0, whole(str(column.header), cells))
            column.no_wrap = True
    return table


def whole(header: str, values: Iterable[str]) -> int:
    """The width an identifying column needs to show every value whole: narrow terminals wrap the other
    columns instead of cutting a fault, pod or node name to ``delete-one-pod…``."""
    return max([len(header), *(len(v) for v in values)])


def recovery_table(summary: RunSummary) -> Table:
    table = Table(title="Recovery from the fault instant", title_justify="left")
    table.add_column("Fault", no_wrap=True, min_width=whole("Fault", (f.name for f in summary.recovery)))
    for name in (*CLOCK_TITLES, "Failures"):
        table.add_column(name, justify="right")
    for f in summary.recovery:
        table.add_row(f.name, *clocks(f), str(f.failures), style="red" if f.never_recovered else None)
    return narrow_safe(table)


def latency_table(summary: RunSummary) -> Table:
    table = Table(title="Latency of ok requests (ms)", title_justify="left")
    for name in ("Service type", "Phase", "Ok", "Failed", "p50", "p95", "p99", "max"):
        table.add_column(name, justify="left" if name in ("Service type", "Phase") else "right")
    for r in summary.latency:
        table.add_row(
            r.service_type, r.phase, str(r.ok), str(r.failed),
            ms(r.p50_ms), ms(r.p95_ms), ms(r.p99_ms), ms(r.max_ms),
        )  # fmt: skip
    return narrow_safe(table)


def data_table(summary: RunSummary) -> Table:
    table = Table(title="Data survival", title_justify="left")
    for name in ("Volume", "Type", "Fault", "Placement", "Observed", "Expected", "Ok"):
        table.add_column(name)
    for d in summary.data:
        table.add_row(
            d.volume, d.volume_type, d.fault, d.placement,
            d.observed, d.expected,
            Text("not judged", "yellow") if not d.checked else
            Text("yes", "green") if d.as_expected else Text("NO", "bold red"),
        )  # fmt: skip
    return narrow_safe(table)
