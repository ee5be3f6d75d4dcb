"""The typer application: the only layer that prints or exits."""

from __future__ import annotations

import typer

from chaoskit import __version__
from chaoskit.cli import browse, cleanup, compare, init, run, validate
from chaoskit.cli.demo import cluster_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Resilience experiments, measured.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chaoskit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """chaoskit runs experiments against services on Kubernetes and measures what users saw."""


init.register(app)
validate.register(app)
run.register(app)
browse.register(app)
compare.register(app)
cleanup.register(app)
app.add_typer(cluster_app, name="cluster")


def main() -> None:
    app()
