"""`chaoskit run NAME|FILE`: run an experiment and print its verdict (exit codes: ``cli/exits.py``, README)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import shutil
import signal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from chaoskit import catalog, kinds
from chaoskit.analysis.verdict import Outcome
from chaoskit.cli import exits, preflight
from chaoskit.cli.backends import KubeFlags, make_cluster
from chaoskit.cli.backends import preflight as check_backend
from chaoskit.cli.console import new_console
from chaoskit.cli.dryrun import dry_run as dry_run_plan
from chaoskit.cli.live import LiveView
from chaoskit.cli.repeat import SeriesOptions, check_junit, run_series, write_junit
from chaoskit.cluster.protocol import ClusterError, ConfigurationError, ManifestError, UnsafeTargetError
from chaoskit.engine.observer import Observers
from chaoskit.engine.reachability import TargetAnswerError
from chaoskit.engine.record import RunRecord
from chaoskit.engine.runner import Engine, RunOptions
from chaoskit.engine.save import summary_document
from chaoskit.engine.targets import no_existing_workloads
from chaoskit.experiment import Experiment, SpecError
from chaoskit.faults.node_failure import OPT_IN_FLAG, needs_opt_in
from chaoskit.load.agent import AgentError
from chaoskit.load.report import AgentImageError
from chaoskit.metrics import MetricsError, MetricsSession, PushError, RunMetrics
from chaoskit.report.evidence import headline
from chaoskit.report.junit import render as render_junit
from chaoskit.report.terminal import render as render_terminal
from chaoskit.vocab import LoadOrigin


class Backend(StrEnum):
    local = "local"
    kube = "kube"


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
    seed: Annotated[int | None, typer.Option(min=0, max=preflight.MAX_SEED, help=(
        "Seed for victim choice and local placement (default: a random one, shown in the report)."))] = None,
    baseline: Annotated[str | None, typer.Option(help="Override the baseline phase length (e.g. 5s).")] = None,
    chaos: Annotated[str | None, typer.Option(help="Override the chaos phase length.")] = None,
    recovery: Annotated[str | None, typer.Option(help="Override the recovery phase length.")] = None,
    rate: Annotated[float | None, typer.Option(help=(
        "Override the load rate (requests/s per address, 0.01 to 100,000)."))] = None,
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
    allow_node_failure: Annotated[bool, typer.Option(OPT_IN_FLAG, help=(
        "Allow node-failure faults: a node is powered off or cut from the API server without a drain."))] = False,
    repeat: Annotated[int | None, typer.Option(help=(
        "Run the experiment N times (fresh target each time) and judge the series: mean and 95 % interval of "
        "every metric, PASS/FAIL/FLAKY/INCONCLUSIVE over the runs (exit 5: FLAKY)."))] = None,
    junit: Annotated[Path | None, typer.Option(help=(
        "Also write the verdict as JUnit XML to this file: one test case per SLO check and data row."))] = None,
    node_agent_image: Annotated[str | None, typer.Option(help=(
        "kube: image of the node-failure agent pod (default: busybox:1.36.1; it needs sh, grep, kill, nsenter)."))] = (
        None),
) -> None:
    """Run an experiment: load, faults, measurements, verdict. Results go to runs/<time>-<name>/."""
    # Every flag first: a bad one must not cost a cluster, a temp directory or a run directory.
    overrides = {"baseline": preflight.duration(baseline, "--baseline"), "chaos": preflight.duration(chaos, "--chaos"),
                 "recovery": preflight.duration(recovery, "--recovery"), "rate": preflight.rate(rate),
                 "load_from": load_from.value if load_from else None, "workers": preflight.workers(workers)}
    linger = preflight.duration(metrics_linger, "--metrics-linger") or 0.0
    if agent_cpu is not None and not re.fullmatch(r"\d+(\.\d+)?|\d+m", agent_cpu):
        exits.fail(f"--agent-cpu {agent_cpu!r}: not a CPU quantity",
                   hint="cores like 1 or 0.5, or millicores like 500m")
    metrics_host = preflight.metrics_host(metrics_host, metrics_port)
    pushgateway = preflight.pushgateway(pushgateway)
    spec = load_spec(experiment, overrides)
    unallowed = needs_opt_in(spec.faults)
    if unallowed and not allow_node_failure:
        exits.fail(f"{spec.name}: {', '.join(unallowed)} fails a node without a drain; that needs {OPT_IN_FLAG}",
                   hint=f"run it again with {OPT_IN_FLAG} if failing a node of this cluster is what you want")
    check_junit(junit)
    requested_seed = seed
    seed = seed if seed is not None else secrets.randbelow(1 << 31)
    flags = KubeFlags(context=context, kubeconfig=kubeconfig, allow_contexts=tuple(allow_context or ()),
                      yes=yes, dry_run=dry_run, create_namespace=create_namespace, agent_image=agent_image,
                      agent_cpu=agent_cpu, node_agent_image=node_agent_image)
    _check_backend(backend, spec, flags)
    if not dry_run:
        out = preflight.out_dir(out)
    if repeat is not None:
        if dry_run or metrics_port is not None or pushgateway:
            exits.fail("--repeat runs a series: --dry-run, --metrics-port and --pushgateway are for single runs",
                       hint="drop them, or run without --repeat")
        run_series(spec, backend.value, flags, SeriesOptions(repeat=repeat, seed=requested_seed, out=out,
                                                             quiet=quiet, as_json=as_json, junit=junit))
    if dry_run:
        if backend is not Backend.kube:
            exits.fail("--dry-run is for --backend kube", hint="the local backend touches nothing outside itself")
        try:
            dry_run_plan(spec, make_cluster(backend.value, spec, flags, seed=seed))
        except ClusterError as exc:
            exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    console = new_console(stderr=as_json, quiet=as_json)
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
    if junit is not None:
        write_junit(junit, render_junit(record.summary))
    _finish(record, console, quiet=quiet, as_json=as_json)


def _check_backend(backend: Backend, spec: Experiment, flags: KubeFlags) -> None:
    if spec.target.existing and backend is Backend.local:
        error = no_existing_workloads(backend.value)
        exits.fail(f"{spec.name}: {error}", hint=error.hint)
    if spec.target.existing and flags.create_namespace:
        exits.fail(f"--create-namespace: {spec.name} tests what already runs in namespace {spec.target.namespace}; "
                   "chaoskit creates no namespace for it (and would delete it at the end)",
                   hint="drop --create-namespace: the namespace and its workload must exist")
    try:
        check_backend(backend.value, spec, flags)
    except (ConfigurationError, UnsafeTargetError) as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)


def _execute(spec: Experiment, backend: str, flags: KubeFlags, options: RunOptions, console: Console, *,
             quiet: bool, metrics: RunMetrics | None = None) -> RunRecord:
    try:
        cluster = make_cluster(backend, spec, flags, seed=options.seed)
    except ClusterError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    view = LiveView(console, spec.name)
    try:
        engine = Engine(spec, cluster, options=options, observers=Observers() if quiet else Observers(view))
    except BaseException:
        asyncio.run(cluster.close())  # the local cluster's state directory exists from its construction
        raise
    if metrics is not None:
        metrics.identify(run_id=engine.run_dir.run_id)
        engine.observers.add(metrics)
    try:
        with view if not quiet else contextlib.nullcontext():
            return asyncio.run(_interruptible(engine))
    except (ManifestError, UnsafeTargetError, ConfigurationError, TargetAnswerError, AgentImageError) as exc:
        # Bad input found once the run had begun: nothing was measured, so no run directory is left either.
        shutil.rmtree(engine.run_dir.path, ignore_errors=True)
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
        typer.echo(f"{summary.experiment}: {headline(summary)} ({record.run_dir})")
    else:
        render_terminal(summary, console)
        for note in context.notes:
            console.print(f"[yellow]note:[/] {note}")
        console.print(f"Run directory: {record.run_dir} (report.md, requests.parquet, events.parquet)")
    if record.aborted:
        raise typer.Exit(exits.ABORTED)
    raise typer.Exit(exit_code(summary.verdict.outcome))


def exit_code(outcome: str) -> int:
    """The documented exit code of a verdict outcome (README, "Exit codes")."""
    return {Outcome.PASS: exits.PASSED, Outcome.FAIL: exits.SLO_VIOLATED, Outcome.INCONCLUSIVE: exits.INCONCLUSIVE,
            Outcome.ABORTED: exits.ABORTED}[Outcome(outcome)]


def register(app: typer.Typer) -> None:
    app.command("run")(run)
