"""`chaoskit list` and `chaoskit report RUN_DIR`: what can be run, and a saved run re-rendered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

from chaoskit import catalog, kinds, runs
from chaoskit.analysis.summary import RunSummary
from chaoskit.cli import exits
from chaoskit.engine.record import RunContext
from chaoskit.engine.save import load_summary, render_html, render_report
from chaoskit.experiment import SpecError
from chaoskit.report import aggregate as aggregate_report
from chaoskit.report.terminal import render as render_terminal


def list_command() -> None:
    """List your experiments (./experiments) and the built-in ones, with their one-line descriptions."""
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


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (runs/<time>-<experiment>) or a series' (-x<N>).")],
    markdown: Annotated[bool, typer.Option("--markdown", help="Print report.md instead of tables.")] = False,
    write: Annotated[bool, typer.Option("--write", help="Rewrite report.md in the run directory.")] = False,
    html: Annotated[bool, typer.Option("--html", help=(
        "Draw report.html again in the directory (charts from the parquet files) and print its path."))] = False,
) -> None:
    """Re-render a run's (or a repeat series') report from its saved data."""
    try:
        if runs.is_aggregate(run_dir):
            _aggregate_report(run_dir, markdown=markdown, write=write, html=html)
            return
        summary, context = load_summary(run_dir)
    except runs.RunLoadError as exc:
        exits.fail(str(exc), hint=exc.hint)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        exits.fail(f"{run_dir / 'summary.json'}: unreadable ({exc})", hint="was it written by this chaoskit?")
    text = render_report(summary, context)
    if write:
        (run_dir / "report.md").write_text(text, encoding="utf-8")
    if html:
        _write_html(run_dir, summary, context, text)
    elif markdown:
        typer.echo(text)
    else:
        render_terminal(summary, Console())


def _write_html(run_dir: Path, summary: RunSummary, context: RunContext, report_md: str) -> None:
    tables = {}
    for name in ("requests.parquet", "events.parquet"):
        try:
            tables[name] = pd.read_parquet(run_dir / name)
        except (OSError, ValueError) as exc:
            exits.fail(f"{run_dir / name}: unreadable ({exc})", hint="the charts need the run's parquet files")
    page = render_html(summary, context, tables["requests.parquet"], tables["events.parquet"], report_md=report_md)
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
        aggregate_report.terminal(agg, Console())


def register(app: typer.Typer) -> None:
    app.command("list")(list_command)
    app.command("report")(report_command)
