"""`chaoskit list` and `chaoskit report RUN_DIR`: what can be run, and a saved run re-rendered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chaoskit import catalog, kinds
from chaoskit.cli import exits
from chaoskit.engine.save import load_summary, render_report
from chaoskit.experiment import SpecError
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
    run_dir: Annotated[Path, typer.Argument(help="A run directory (runs/<time>-<experiment>).")],
    markdown: Annotated[bool, typer.Option("--markdown", help="Print report.md instead of tables.")] = False,
    write: Annotated[bool, typer.Option("--write", help="Rewrite report.md in the run directory.")] = False,
) -> None:
    """Re-render a run's report from its summary.json."""
    if not (run_dir / "summary.json").is_file():
        exits.fail(f"{run_dir}: no summary.json here", hint="pass a directory that `chaoskit run` wrote")
    try:
        summary, context = load_summary(run_dir)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        exits.fail(f"{run_dir / 'summary.json'}: unreadable ({exc})", hint="was it written by this chaoskit?")
    text = render_report(summary, context)
    if write:
        (run_dir / "report.md").write_text(text, encoding="utf-8")
    if markdown:
        typer.echo(text)
    else:
        render_terminal(summary, Console())


def register(app: typer.Typer) -> None:
    app.command("list")(list_command)
    app.command("report")(report_command)
