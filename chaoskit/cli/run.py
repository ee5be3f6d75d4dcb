"""`chaoskit run NAME|FILE`: run an experiment and print its verdict (exit codes: ``cli/exits.py``, README)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import signal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from chaoskit import catalog, kinds
from chaoskit.cli import exits
from chaoskit.cli.backends import KubeFlags, make_cluster
from chaoskit.cli.dryrun import dry_run as dry_run_plan
from chaoskit.cli.live import LiveView
from chaoskit.cluster.protocol import ClusterError, ManifestError, UnsafeTargetError
from chaoskit.engine.observer import Observers
from chaoskit.engine.record import RunRecord
from chaoskit.engine.runner import Engine, RunOptions
from chaoskit.engine.save import summary_document
from chaoskit.experiment import Experiment, SpecError, parse_duration
from chaoskit.load.agent import AgentError
from chaoskit.load.report import AgentImageError
from chaoskit.metrics import MetricsError, MetricsSession, PushError, RunMetrics
from chaoskit.report.terminal import render as render_terminal
from chaoskit.vocab import LoadOrigin


class Backend(StrEnum):
    local = "local"
    kube = "kube"


def _duration(value: str | None, flag: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        exits.fail(f"{flag} {value!r}: {exc}", hint="use a duration like 5s, 500ms or 1m")


def _workers(value: str | None) -> int | str | None:
    if value is None or value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        why = "at least 1 (or auto)" if value.isdigit() else "not a count of worker processes, nor auto"
        exits.fail(f"--workers {value}: {why}", hint="e.g. --workers 2, or --workers auto to size it from the rate")
    return int(value)


def load_spec(name: str, overrides: dict[str, Any]) -> Experiment:
    try:
        experiment = kinds.load_experiment(catalog.resolve(name))
        if any(v is not None for v in overrides.values()):
            experiment = experiment.with_overrides(**overrides)
    except SpecError as err:
        for issue in err.issues:
            typer.echo(f"{issue.location}: {issue.message}", err=True)
            if issue.hint:
                typer.echo(f"    hint: {issue.hint}", err=True)
        raise typer.Exit(exits.BAD_INPUT) from None
    return experiment


def run(
    experiment: Annotated[str, typer.Argument(help="An experiment name (see `chaoskit list`) or a YAML file.")],
    backend: Annotated[Backend, typer.Option(help="local: the embedded cluster; kube: a real cluster.")] = (
        Backend.local),
    out: Annotated[Path, typer.Option(help="Parent directory of run directories.")] = Path("runs"),
    seed: Annotated[int | None, typer.Option(help=(
        "Seed for victim choice and local placement (default: a random one, shown in the report)."))] = None,
    baseline: Annotated[str | None, typer.Option(help="Override the baseline phase length (e.g. 5s).")] = None,
    chaos: Annotated[str | None, typer.Option(help="Override the chaos phase length.")] = None,
    recovery: Annotated[str | None, typer.Option(help="Override the recovery phase length.")] = None,
    rate: Annotated[float | None, typer.Option(help="Override the load rate (requests/s per address).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the verdict line.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json to stdout, nothing else.")] = False,
    context: Annotated[str | None, typer.Option(help="kube: kubeconfig context.")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(help="kube: kubeconfig file.")] = None,
    allow_context: Annotated[list[str] | None, typer.Option(help="kube: allow this context.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="kube: skip the context allowlist.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="kube: print what would be touched.")] = False,
    create_namespace: Annotated[bool, typer.Option(
        "--create-namespace", help="kube: create the namespace if missing, delete it at the end.")] = False,
    load_from: Annotated[LoadOrigin | None, typer.Option(help=(
        "kube: where ClusterIP load runs: this process, an in-cluster Job, or auto (Job only when the ClusterIP "
        "does not answer here). Overrides load.from."))] = None,
    agent_image: Annotated[str | None, typer.Option(help=(
        "kube: image of the in-cluster load agent Job (default: the pinned Locust image)."))] = None,
    agent_cpu: Annotated[str | None, typer.Option(help=(
        "kube: CPU request and limit of the in-cluster load agent, e.g. 500m (default: 1)."))] = None,
    workers: Annotated[str | None, typer.Option(help=(
        "Load worker processes (in-cluster: pods) the schedule is spread over, Locust's distributed mode: a count, "
        "or auto (from the rate and the per-worker ceiling). Overrides load.workers."))] = None,
    metrics_port: Annotated[int | None, typer.Option(min=0, max=65535, help=(
        "Serve live Prometheus metrics at /metrics on this port while the run goes on (0: any free port)."))] = None,
    metrics_host: Annotated[str, typer.Option(help="Address the metrics server binds.")] = "127.0.0.1",
    metrics_linger: Annotated[str | None, typer.Option(help=(
        "After the run, keep serving until the final values were scraped once, at most this long (e.g. 30s)."))] = None,
    pushgateway: Annotated[str | None, typer.Option(help=(
        "Push the final metrics to this Pushgateway (http://HOST:PORT), grouped by experiment and run."))] = None,
) -> None:
    """Run an experiment: load, faults, measurements, verdict. Results go to runs/<time>-<name>/."""
    overrides = {"baseline": _duration(baseline, "--baseline"), "chaos": _duration(chaos, "--chaos"),
                 "recovery": _duration(recovery, "--recovery"), "rate": rate,
                 "load_from": load_from.value if load_from else None, "workers": _workers(workers)}
    if agent_cpu is not None and not re.fullmatch(r"\d+(\.\d+)?|\d+m", agent_cpu):
        exits.fail(f"--agent-cpu {agent_cpu!r}: not a CPU quantity",
                   hint="cores like 1 or 0.5, or millicores like 500m")
    spec = load_spec(experiment, overrides)
    seed = seed if seed is not None else secrets.randbelow(1 << 31)
    flags = KubeFlags(context=context, kubeconfig=kubeconfig, allow_contexts=tuple(allow_context or ()),
                      yes=yes, dry_run=dry_run, create_namespace=create_namespace, agent_image=agent_image,
                      agent_cpu=agent_cpu)
    if dry_run:
        if backend is not Backend.kube:
            exits.fail("--dry-run is for --backend kube", hint="the local backend touches nothing outside itself")
        try:
            dry_run_plan(spec, make_cluster(backend.value, spec, flags, seed=seed))
        except ClusterError as exc:
            exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    console = Console(stderr=as_json, quiet=as_json)
    linger = _duration(metrics_linger, "--metrics-linger") or 0.0
    try:
        session = MetricsSession(spec, backend=backend.value, host=metrics_host, port=metrics_port,
                                 pushgateway=pushgateway, linger_s=linger)
        with session:
            if session.server is not None and not quiet:
                console.print(f"Metrics: {session.server.url}")
            record = _execute(spec, backend.value, flags, RunOptions(out_dir=out, seed=seed), console, quiet=quiet,
                              metrics=session.metrics)
            session.finish(record.summary, workers=record.context.workers)
    except PushError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.INFRASTRUCTURE)
    except MetricsError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    _finish(record, console, quiet=quiet, as_json=as_json)


def _execute(spec: Experiment, backend: str, flags: KubeFlags, options: RunOptions, console: Console, *,
             quiet: bool, metrics: RunMetrics | None = None) -> RunRecord:
    try:
        cluster = make_cluster(backend, spec, flags, seed=options.seed)
    except ClusterError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    view = LiveView(console, spec.name)
    engine = Engine(spec, cluster, options=options, observers=Observers() if quiet else Observers(view))
    if metrics is not None:
        metrics.identify(run_id=engine.run_dir.run_id)
        engine.observers.add(metrics)
    try:
        with view if not quiet else contextlib.nullcontext():
            return asyncio.run(_interruptible(engine))
    except (ManifestError, UnsafeTargetError, AgentImageError) as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    except (ClusterError, AgentError) as exc:
        exits.fail(f"infrastructure failure: {exc}", hint=getattr(exc, "hint", ""), code=exits.INFRASTRUCTURE)
    except KeyboardInterrupt:
        raise typer.Exit(exits.ABORTED) from None


async def _interruptible(engine: Engine) -> RunRecord:
    """SIGINT/SIGTERM cancel the run; the engine then undoes its faults, saves what it has and reports aborted."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await engine.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _finish(record: RunRecord, console: Console, *, quiet: bool, as_json: bool) -> None:
    summary, context = record.summary, record.context
    if as_json:
        typer.echo(json.dumps(summary_document(summary, context), indent=2))
    elif quiet:
        word = "ABORTED" if record.aborted else "PASS" if summary.verdict.passed else "FAIL"
        typer.echo(f"{summary.experiment}: {word} ({record.run_dir})")
    else:
        render_terminal(summary, console)
        for note in context.notes:
            console.print(f"[yellow]note:[/] {note}")
        console.print(f"Run directory: {record.run_dir} (report.md, requests.parquet, events.parquet)")
    if record.aborted:
        raise typer.Exit(exits.ABORTED)
    raise typer.Exit(exits.PASSED if summary.verdict.passed else exits.SLO_VIOLATED)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
