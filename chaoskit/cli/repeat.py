"""`chaoskit run NAME --repeat N`: the experiment N times against a fresh target, then the aggregate.

Each run gets a new cluster (local: a new embedded cluster; kube: the manifests applied again) and its own seed
(``--seed S``: S, S+1, ...; otherwise a random one per run). The runs are saved inside the aggregate directory
``runs/<time>-<name>-x<N>/``, which also gets summary.json, report.md and report.html over the runs
(analysis/repeats.py states the verdict rule). SIGINT stops the series: the running run is undone and saved as
aborted, the aggregate of what finished is written and marked ABORTED, exit 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from chaoskit.analysis.repeats import MAX_REPEATS, Aggregate, SeriesOutcome, SeriesRun, aggregate
from chaoskit.analysis.summary import RunSummary
from chaoskit.cli import exits
from chaoskit.cli.backends import KubeFlags, make_cluster
from chaoskit.cli.console import new_console
from chaoskit.cli.live import LiveView
from chaoskit.cluster.protocol import Cluster, ClusterError, ManifestError, UnsafeTargetError
from chaoskit.engine.observer import Observers
from chaoskit.engine.record import RunRecord
from chaoskit.engine.rundir import RunDir
from chaoskit.engine.runner import Engine, RunOptions
from chaoskit.experiment import Experiment
from chaoskit.load.agent import AgentError
from chaoskit.load.report import AgentImageError
from chaoskit.report import aggregate as aggregate_report
from chaoskit.report import junit
from chaoskit.report.evidence import headline

SERIES_EXIT = {SeriesOutcome.PASS: exits.PASSED, SeriesOutcome.FAIL: exits.SLO_VIOLATED,
               SeriesOutcome.FLAKY: exits.FLAKY, SeriesOutcome.INCONCLUSIVE: exits.INCONCLUSIVE,
               SeriesOutcome.ABORTED: exits.ABORTED}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class SeriesOptions:
    repeat: int
    seed: int | None
    out: Path
    quiet: bool
    as_json: bool
    junit: Path | None


def check_repeat(repeat: int) -> None:
    if not 1 <= repeat <= MAX_REPEATS:
        exits.fail(f"--repeat {repeat}: must be between 1 and {MAX_REPEATS}",
                   hint="5 to 20 repeats give useful intervals; a longer series is a soak test: raise --chaos instead")


def seeds(first: int | None, count: int) -> list[int]:
    """``first``, ``first + 1``, ...; or distinct random seeds."""
    if first is not None:
        return [first + i for i in range(count)]
    chosen: list[int] = []
    while len(chosen) < count:
        candidate = secrets.randbelow(1 << 31)
        if candidate not in chosen:
            chosen.append(candidate)
    return chosen


def run_series(spec: Experiment, backend: str, flags: KubeFlags, options: SeriesOptions) -> NoReturn:
    """Run the series, write the aggregate directory, print, exit with the series' code."""
    check_repeat(options.repeat)
    console = new_console(stderr=options.as_json, quiet=options.as_json)
    planned = seeds(options.seed, options.repeat)
    try:  # the first cluster before the series directory: a bad kubeconfig leaves nothing behind
        first = make_cluster(backend, spec, flags, seed=planned[0])
    except ClusterError as exc:
        exits.fail(str(exc), hint=exc.hint, code=exits.BAD_INPUT)
    series = RunDir(options.out, f"{spec.name}-x{options.repeat}")
    records: list[RunRecord] = []
    failure: tuple[str, str, int] | None = None
    try:
        interrupted = asyncio.run(_series(spec, (backend, flags, first), planned, series, options, console, records))
    except (ManifestError, UnsafeTargetError, AgentImageError) as exc:
        interrupted, failure = True, (str(exc), exc.hint, exits.BAD_INPUT)
    except (ClusterError, AgentError) as exc:
        interrupted, failure = True, (f"infrastructure failure: {exc}", getattr(exc, "hint", ""), exits.INFRASTRUCTURE)
    except KeyboardInterrupt:
        interrupted = True
    agg = write_aggregate(series, spec.name, backend, [entry(r) for r in records], asked=options.repeat,
                          interrupted=interrupted)
    if options.junit is not None:
        write_junit(options.junit, junit.render_series(agg, [r.summary for r in records]))
    if failure is not None:
        exits.fail(failure[0] + f" (run {len(records) + 1} of {options.repeat}; the finished runs are in "
                   f"{series.path})", hint=failure[1], code=failure[2])
    _print(agg, series.path, console, options)
    raise typer.Exit(SERIES_EXIT[SeriesOutcome(agg.verdict.outcome)])


async def _series(spec: Experiment, target: tuple[str, KubeFlags, Cluster], planned: list[int], series: RunDir,
                  options: SeriesOptions, console: Console, records: list[RunRecord]) -> bool:
    """The runs, one after the other; True when interrupted (SIGINT/SIGTERM)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        backend, flags, first = target
        for i, seed in enumerate(planned):
            if not options.quiet:
                console.print(f"[bold]Run {i + 1} of {options.repeat}[/] (seed {seed})")
            cluster = first if i == 0 else make_cluster(backend, spec, flags, seed=seed)
            record = await _one(spec, cluster, RunOptions(out_dir=series.path, seed=seed), console,
                                quiet=options.quiet)
            records.append(record)
            if not options.quiet:
                console.print(f"  {headline(record.summary)} ({record.run_dir.name})")
            if record.aborted:
                return True
    except asyncio.CancelledError:
        return True  # between two runs: nothing is running, the finished runs are saved
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return False


async def _one(spec: Experiment, cluster: Cluster, options: RunOptions, console: Console, *,
               quiet: bool) -> RunRecord:
    view = LiveView(console, spec.name)
    engine = Engine(spec, cluster, options=options, observers=Observers() if quiet else Observers(view))
    with view if not quiet else contextlib.nullcontext():
        return await engine.run()


def entry(record: RunRecord) -> tuple[RunSummary, SeriesRun]:
    """A finished run as the aggregate lists it (its directory relative to the series directory)."""
    summary = record.summary
    return summary, SeriesRun(run_id=record.run_id, outcome=str(summary.verdict.outcome), seed=record.context.seed,
                              dir=record.run_dir.name, headline=headline(summary))


def write_aggregate(series: RunDir, experiment: str, backend: str, runs: list[tuple[RunSummary, SeriesRun]], *,
                    asked: int, interrupted: bool) -> Aggregate:
    """summary.json, report.md and report.html of the series directory, from the finished runs."""
    agg = aggregate(runs, experiment=experiment, backend=backend, series_id=series.run_id, asked=asked,
                    interrupted=interrupted)
    series.write_json("summary.json", agg.to_dict())
    series.write_text("report.md", aggregate_report.markdown(agg))
    series.write_text("report.html", aggregate_report.html(agg))
    return agg


def write_junit(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        exits.fail(f"--junit {path}: cannot write ({exc.strerror})", hint="pass a writable file path")


def check_junit(path: Path | None) -> None:
    """Before anything runs: the JUnit file's directory must exist (nothing half-done on bad input)."""
    if path is not None and (path.is_dir() or not path.parent.is_dir()):
        exits.fail(f"--junit {path}: " + ("is a directory" if path.is_dir() else "its directory does not exist"),
                   hint="pass a file path in an existing directory, e.g. --junit results/chaoskit.xml")


def _print(agg: Aggregate, path: Path, console: Console, options: SeriesOptions) -> None:
    if options.as_json:
        typer.echo(json.dumps(agg.to_dict(), indent=2))
    elif options.quiet:
        typer.echo(f"{agg.experiment}: {agg.verdict.sentence} ({path})")
    else:
        aggregate_report.terminal(agg, console)
        console.print(f"Series directory: {path} (summary.json, report.md, report.html; one directory per run)")
