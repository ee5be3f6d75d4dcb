"""`chaoskit compare BASE CANDIDATE`: two runs, or two repeat series, of one experiment side by side.

Exit codes: 0 compared (and no regression, with ``--fail-on-regression``); 1 a regression beyond PCT; 2 bad input
(not a run directory, different experiments, incompatible schema versions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chaoskit import runs
from chaoskit.analysis.comparison import compare, incompatibilities
from chaoskit.analysis.summary import RunSummary
from chaoskit.analysis.verdict import Outcome
from chaoskit.cli import exits
from chaoskit.report import compare as compare_report


def _summaries(path: Path, name: str) -> list[RunSummary]:
    try:
        return [s for s, _, _ in runs.read_runs(path)]
    except runs.RunLoadError as exc:
        exits.fail(f"{name} {exc}", hint=exc.hint)


def compare_command(
    base: Annotated[Path, typer.Argument(help="The base: a run directory or a repeat series' directory.")],
    candidate: Annotated[Path, typer.Argument(help="The candidate, of the same experiment.")],
    fail_on_regression: Annotated[float | None, typer.Option(min=0, help=(
        "Exit 1 when a judged metric of the candidate is worse than the base by more than PCT percent, with "
        "confidence (its 95 % interval excludes no change)."), metavar="PCT")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown instead of tables.")] = False,
    html: Annotated[Path | None, typer.Option(help="Also write the comparison as one HTML file here.")] = None,
) -> None:
    """Compare two runs or two repeat series: each metric side by side, the difference and its interval."""
    if html is not None and not html.parent.is_dir():
        exits.fail(f"--html {html}: its directory does not exist", hint="pass a file path in an existing directory")
    b, c = _summaries(base, "base"), _summaries(candidate, "candidate")
    finished_b = [s for s in b if s.verdict.outcome != Outcome.ABORTED]
    finished_c = [s for s in c if s.verdict.outcome != Outcome.ABORTED]
    problems = incompatibilities(finished_b, finished_c)
    if problems:
        exits.fail(f"cannot compare {base} with {candidate}: " + "; ".join(problems),
                   hint="compare runs of the same experiment made by the same chaoskit (re-run the older one)")
    result = compare(finished_b, finished_c, base_label=base.name, candidate_label=candidate.name,
                     regression_pct=fail_on_regression)
    if html is not None:
        html.write_text(compare_report.html(result), encoding="utf-8")
    if markdown:
        typer.echo(compare_report.markdown(result))
    else:
        compare_report.terminal(result, Console(width=180))
        if html is not None:
            typer.echo(f"HTML: {html}")
    if fail_on_regression is not None and result.regressions:
        raise typer.Exit(exits.SLO_VIOLATED)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
