"""`chaoskit cleanup`: find what chaoskit left on a real cluster (by label and node annotation) and restore it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from chaoskit.cli import exits
from chaoskit.cluster.protocol import ClusterError


def cleanup(
    context: Annotated[str | None, typer.Option(help="kubeconfig context (default: current).")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(help="kubeconfig file.")] = None,
    allow_context: Annotated[list[str] | None, typer.Option(help="allow this context.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="skip the context allowlist.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what would be restored.")] = False,
    run_id: Annotated[str | None, typer.Option(help="only this run's leftovers.")] = None,
) -> None:
    """Uncordon nodes chaoskit cordoned and delete objects it created and left behind."""
    from chaoskit.cluster.kube.cleanup import cleanup as run_cleanup
    from chaoskit.cluster.kube.config import KubeOptions
    from chaoskit.cluster.protocol import UnsafeTargetError

    options = KubeOptions(context=context, kubeconfig=kubeconfig, allow_contexts=tuple(allow_context or ()),
                          yes=yes, dry_run=dry_run)
    try:
        found = asyncio.run(run_cleanup(options, run_id=run_id))
    except UnsafeTargetError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    except ClusterError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.INFRASTRUCTURE)
    verb = "would restore" if dry_run else "restored"
    if not found.objects and not found.nodes:
        typer.echo("nothing left behind")
    for node in found.nodes:
        typer.echo(f"{verb}: node {node} (uncordon)")
    for ref in found.objects:
        typer.echo(f"{verb}: {ref.text} (delete)")
    for action in found.planned:
        typer.echo(f"  {action.verb} {action.path}")


def register(app: typer.Typer) -> None:
    app.command("cleanup")(cleanup)
