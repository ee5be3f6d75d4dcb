"""`chaoskit validate` and `chaoskit schema`: check experiment files without touching a cluster."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from chaoskit import catalog, kinds
from chaoskit.experiment import Experiment, SpecError, SpecIssue
from chaoskit.experiment.crosscheck import notices
from chaoskit.faults.node_failure import OPT_IN_FLAG, needs_opt_in

EXIT_BAD_INPUT = 2


def validate(
    files: Annotated[list[str], typer.Argument(help="Experiment files or names (see `chaoskit list`).")],
) -> None:
    """Validate experiment files; print every problem as file:line:column with a hint."""
    failed = False
    for name in files:
        try:
            path = catalog.resolve(name)
            experiment = kinds.load_experiment(path)
        except SpecError as err:
            failed = True
            _print_issues(err.issues)
            continue
        typer.echo(
            f"ok: {path} ({experiment.name}: {len(experiment.faults)} faults, "
            f"duration {experiment.total_duration_s:g} s)"
        )
        for notice in _notices(experiment):
            typer.echo(f"  notice: {notice}")
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


def _notices(experiment: Experiment) -> list[str]:
    """What holds for a valid experiment but should be said: opt-ins it needs, what the local backend lacks."""
    found = notices(experiment)
    opted = needs_opt_in(experiment.faults)
    if opted:
        found.insert(0, f"{', '.join(opted)}: node-failure runs only with `chaoskit run {OPT_IN_FLAG}` (it fails a "
                        "node without a drain)")
    return found


def schema() -> None:
    """Print the JSON schema of experiment files."""
    typer.echo(json.dumps(kinds.schema(), indent=2))


def _print_issues(issues: tuple[SpecIssue, ...]) -> None:
    for issue in issues:
        typer.echo(f"{issue.location}: {issue.message}", err=True)
        if issue.hint:
            typer.echo(f"    hint: {issue.hint}", err=True)


def register(app: typer.Typer) -> None:
    """Add `validate` and `schema` to the chaoskit app."""
    app.command("validate")(validate)
    app.command("schema")(schema)
