"""Exit codes (README, "Exit codes") and the one way the CLI reports an error: a line, a hint, the right code."""

from __future__ import annotations

from typing import NoReturn

import typer

PASSED = 0
SLO_VIOLATED = 1
BAD_INPUT = 2
INFRASTRUCTURE = 3
INCONCLUSIVE = 4
"""The run cannot support a claim either way: a fault that did not happen, no steady state, load not delivered."""
FLAKY = 5
"""A repeat series (``--repeat N``) in which some runs passed and some failed."""
ABORTED = 130


def fail(message: str, *, hint: str = "", code: int = BAD_INPUT) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    if hint:
        typer.echo(f"  hint: {hint}", err=True)
    raise typer.Exit(code)
