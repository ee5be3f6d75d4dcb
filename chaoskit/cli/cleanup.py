"""`chaoskit cleanup`: remove what crashed runs left behind.

local (the default): the embedded cluster's state directories whose owner process is gone, and run
directories of crashed runs that hold nothing (``engine/rundir.py``); needs no kubeconfig. kube (``--backend
kube`` or any kube flag): objects and cordons chaoskit left on a real cluster (node-failure agents among them: each
brings its node back by itself), and marker files of its runs.
"""

from __future__ import annotations

import asyncio
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from chaoskit.cli import exits
from chaoskit.cluster.local import leftovers as local_state
from chaoskit.cluster.protocol import ClusterError, ConfigurationError
from chaoskit.engine.rundir import FoundRunDir, RunDirState, scan


class CleanupBackend(StrEnum):
    local = "local"
    kube = "kube"


def cleanup(
    backend: Annotated[CleanupBackend | None, typer.Option(help=(
        "local: the embedded cluster's leftovers and crashed run directories (the default); kube: a real "
        "cluster (the default when a kube flag is given)."))] = None,
    out: Annotated[Path, typer.Option(help="local: where run directories are (as `chaoskit run --out`).")] = (
        Path("runs")),
    context: Annotated[str | None, typer.Option(help="kube: kubeconfig context (default: current).")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(help="kube: kubeconfig file.")] = None,
    allow_context: Annotated[list[str] | None, typer.Option(help="kube: allow this context.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="kube: skip the context allowlist.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what would be removed or restored.")] = False,
    namespace: Annotated[list[str] | None, typer.Option("--namespace", "-n", help=(
        "kube: look only in this namespace (repeatable): where an experiment tested a workload chaoskit did not "
        "create, its markers are in that workload's volumes."))] = None,
    run_id: Annotated[str | None, typer.Option(help=(
        "only this run's leftovers (local: the run directory's name; kube: the run-id label, or the run "
        "directory's name for marker files)."))] = None,
) -> None:
    """Remove what crashed runs left behind: locally (default) or on a real cluster (--backend kube)."""
    kube_flags = [flag for flag, given in (("--context", context), ("--kubeconfig", kubeconfig),
                                           ("--allow-context", allow_context), ("--yes", yes),
                                           ("--namespace", namespace)) if given]
    chosen = backend or (CleanupBackend.kube if kube_flags else CleanupBackend.local)
    if chosen is CleanupBackend.local and kube_flags:
        exits.fail(f"{', '.join(kube_flags)}: for --backend kube", hint="drop them, or add --backend kube")
    if chosen is CleanupBackend.local:
        _cleanup_local(out, dry_run=dry_run, run_id=run_id)
    else:
        _cleanup_kube(context, kubeconfig, tuple(allow_context or ()), yes=yes, dry_run=dry_run, run_id=run_id,
                      namespaces=tuple(namespace or ()))


def _cleanup_local(out: Path, *, dry_run: bool, run_id: str | None) -> None:
    verb = "would remove" if dry_run else "removed"
    said = False
    for state in local_state.find_state_dirs():
        said = True
        if state.orphaned:
            if not dry_run:
                local_state.remove(state)
            typer.echo(f"{verb}: embedded cluster state {state.path} (its run, pid {_pid(state)}, is gone)")
        elif state.owner is None:
            typer.echo(f"not checked: {state.path} (made by an older chaoskit, no owner recorded; "
                       "remove it by hand once no run uses it)")
        else:
            typer.echo(f"in use: embedded cluster state {state.path} (pid {_pid(state)} runs)")
    for found in scan(out):
        if run_id is not None and found.path.name != run_id:
            continue
        said = _run_dir(found, verb, dry_run=dry_run) or said
    if not said:
        typer.echo("nothing left behind")


def _pid(state: local_state.StateDir) -> str:
    return str(state.owner.pid) if state.owner else "?"


def _run_dir(found: FoundRunDir, verb: str, *, dry_run: bool) -> bool:
    """Remove an empty run directory of a crashed run; say what is left and why. True when it said anything."""
    if found.state is RunDirState.CRASHED and found.empty:
        if not dry_run:
            shutil.rmtree(found.path, ignore_errors=True)
        typer.echo(f"{verb}: run directory {found.path} (crashed run, nothing saved)")
        return True
    if found.state is RunDirState.CRASHED:
        typer.echo(f"kept: run directory {found.path}: incomplete (crashed run), holds partial files; "
                   "`chaoskit report` says what is missing")
        return True
    if found.state is RunDirState.UNKNOWN:
        host = found.owner.host if found.owner else "?"
        typer.echo(f"not checked: run directory {found.path} (its run is on host {host})")
        return True
    return False


def _cleanup_kube(context: str | None, kubeconfig: Path | None, allow_contexts: tuple[str, ...], *, yes: bool,
                  dry_run: bool, run_id: str | None, namespaces: tuple[str, ...] = ()) -> None:
    from chaoskit.cluster.kube.cleanup import cleanup as run_cleanup
    from chaoskit.cluster.kube.config import KubeOptions
    from chaoskit.cluster.protocol import UnsafeTargetError

    options = KubeOptions(context=context, kubeconfig=kubeconfig, allow_contexts=allow_contexts, yes=yes,
                          dry_run=dry_run)
    try:
        found = asyncio.run(run_cleanup(options, run_id=run_id, namespaces=namespaces))
    except (UnsafeTargetError, ConfigurationError) as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    except ClusterError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.INFRASTRUCTURE)
    verb = "would restore" if dry_run else "restored"
    if not found.objects and not found.nodes and not found.markers:
        typer.echo("nothing left behind")
    for node in found.nodes:
        typer.echo(f"{verb}: node {node} (uncordon)")
    for agent in found.agents:
        typer.echo(f"{verb}: {agent} (pod deleted)")
    for marker in found.markers:
        typer.echo(f"{'would remove' if dry_run else 'removed'}: marker {marker}")
    for ref in found.objects:
        typer.echo(f"{verb}: {ref.text} (delete)")
    for action in found.planned:
        typer.echo(f"  {action.verb} {action.path}")
    for what in found.unchecked:
        typer.echo(f"not checked: {what}")


def register(app: typer.Typer) -> None:
    app.command("cleanup")(cleanup)
