"""`chaoskit list` and `chaoskit report RUN_DIR`: what can be run, and a saved run re-rendered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chaoskit import kinds
from chaoskit.cli import exits
from chaoskit.engine.save import load_summary, render_report
from chaoskit.experiment import SpecError, default_experiments_dir, list_experiments
from chaoskit.report.terminal import render as render_terminal


def list_command() -> None:
    """List the experiments in experiments/ with their one-line descriptions."""
    directory = default_experiments_dir()
    files = list_experiments(directory)
    if not files:
        exits.fail(f"no experiments in {directory}", hint="run from the chaoskit checkout, or pass a file to run")
    for path in files:
        try:
            experiment = kinds.load_experiment(path)
            typer.echo(f"{experiment.name:<20} {experiment.summary}")
        except SpecError as err:
            typer.echo(f"{path.stem:<20} (invalid: {err.issues[0].message})")


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
