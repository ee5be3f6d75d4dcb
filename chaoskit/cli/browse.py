"""`chaoskit list` and `chaoskit report RUN_DIR`: what can be run (and what ran), and a saved run re-rendered.

`report` checks what it renders (``engine/save.py``): an unknown summary.json is exit 2; a missing or
damaged table is a warning on stderr and a line at the top of the report; a run directory of a crashed
run says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from chaoskit import catalog, kinds, runs
from chaoskit.analysis.stored import StoredTable
from chaoskit.analysis.summary import RunSummary
from chaoskit.cli import exits
from chaoskit.cli.console import new_console
from chaoskit.engine.record import RunContext
from chaoskit.engine.rundir import INCOMPLETE, RunDirState, inspect, scan
from chaoskit.engine.save import SavedRunError, check_tables, load_summary, render_html, render_report
from chaoskit.experiment import SpecError
from chaoskit.report import aggregate as aggregate_report
from chaoskit.report.terminal import render as render_terminal


def list_command(
    runs: Annotated[bool, typer.Option("--runs", help="List the run directories in --out instead.")] = False,
    out: Annotated[Path, typer.Option(help="With --runs: where run directories are.")] = Path("runs"),
) -> None:
    """List your experiments (./experiments) and the built-in ones, with their one-line descriptions
    (--runs: the runs made)."""
    if runs:
        _list_runs(out)
        return
    found = catalog.entries()
    if not found:
        exits.fail("no experiments: none in ./experiments and none built in",
                   hint="reinstall chaoskit, or pass an experiment file to `chaoskit run`")
    width = max(len(e.name) for e in found) + 2
    for entry in found:
        typer.echo(f"{entry.name:<{width}}{entry.origin:<10}{_description(entry, found)}")


def _description(entry: catalog.Entry, found: list[catalog.Entry]) -> str:
    if entry.shadowed:
        return f"(shadowed by yours; run it by path: {entry.path})"
    try:
        summary = kinds.load_experiment(entry.path).summary
    except SpecError as err:
        return f"(invalid: {err.issues[0].message})"
    shadows = entry.origin is catalog.Origin.USER and any(e.shadowed and e.name == entry.name for e in found)
    return f"{summary} (shadows the built-in)" if shadows else summary


def _list_runs(out: Path) -> None:
    found = [f for f in scan(out) if not f.staging]
    if not found:
        typer.echo(f"no run directories in {out}")
    for run in found:
        if run.state is not RunDirState.COMPLETE:
            typer.echo(f"{run.path.name:<48} {run.state.value}")
            continue
        try:
            summary, _ = load_summary(run.path)
        except SavedRunError as exc:
            typer.echo(f"{run.path.name:<48} unreadable: {exc}")
            continue
        word = "ABORTED" if summary.aborted else "PASS" if summary.verdict.passed else "FAIL"
        typer.echo(f"{run.path.name:<48} {word}")


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (runs/<time>-<experiment>) or a series' (-x<N>).")],
    markdown: Annotated[bool, typer.Option("--markdown", help="Print report.md instead of tables.")] = False,
    write: Annotated[bool, typer.Option("--write", help="Rewrite report.md in the run directory.")] = False,
    html: Annotated[bool, typer.Option("--html", help=(
        "Draw report.html again in the directory (charts from the parquet files) and print its path."))] = False,
) -> None:
    """Re-render a run's (or a repeat series') report from its saved data (and say what is missing or damaged)."""
    state = inspect(run_dir).state if (run_dir / INCOMPLETE).exists() else RunDirState.COMPLETE
    if not (run_dir / "summary.json").is_file():
        if state is not RunDirState.COMPLETE:
            exits.fail(f"{run_dir}: {state.value}: no summary.json", hint=_incomplete_hint(state))
        exits.fail(f"{run_dir}: no summary.json here", hint="pass a directory that `chaoskit run` wrote")
    try:
        if runs.is_aggregate(run_dir):
            _aggregate_report(run_dir, markdown=markdown, write=write, html=html)
            return
        summary, context = load_summary(run_dir)
    except (SavedRunError, runs.RunLoadError) as exc:
        exits.fail(str(exc), hint=exc.hint)
    warnings = check_tables(run_dir, summary)
    if state is not RunDirState.COMPLETE:
        warnings.insert(0, f"the run directory is {state.value}: its files may be partial")
    for warning in warnings:
        typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)
    text = render_report(summary, context, warnings=warnings)
    if write:
        (run_dir / "report.md").write_text(text, encoding="utf-8")
    if html:
        _write_html(run_dir, summary, context, text)
    elif markdown:
        typer.echo(text)
    else:
        render_terminal(summary, new_console())


def _incomplete_hint(state: RunDirState) -> str:
    if state is RunDirState.RUNNING:
        return "its run is still going on: wait for it to end"
    if state is RunDirState.UNKNOWN:
        return "its run belongs to another host: look there"
    return "its run stopped (a crash) before saving its results; `chaoskit cleanup` removes it if it holds nothing"


def _write_html(run_dir: Path, summary: RunSummary, context: RunContext, report_md: str) -> None:
    # requests.parquet is read in passes, as the run read it (analysis/stored.py): never held whole
    try:
        requests = StoredTable(run_dir / "requests.parquet")
        _ = requests.scan
        events = pd.read_parquet(run_dir / "events.parquet")
    except (OSError, ValueError) as exc:
        exits.fail(f"{run_dir}: a parquet file is unreadable ({exc})", hint="the charts need the run's parquet files")
    try:
        page = render_html(summary, context, requests, events, report_md=report_md)
    finally:
        requests.close()
    (run_dir / "report.html").write_text(page, encoding="utf-8")
    typer.echo(str(run_dir / "report.html"))


def _aggregate_report(path: Path, *, markdown: bool, write: bool, html: bool) -> None:
    agg = runs.read_aggregate(path)
    text = aggregate_report.markdown(agg)
    if write:
        (path / "report.md").write_text(text, encoding="utf-8")
    if html:
        (path / "report.html").write_text(aggregate_report.html(agg), encoding="utf-8")
        typer.echo(str(path / "report.html"))
    elif markdown:
        typer.echo(text)
    else:
        aggregate_report.terminal(agg, new_console())


def register(app: typer.Typer) -> None:
    app.command("list")(list_command)
    app.command("report")(report_command)
