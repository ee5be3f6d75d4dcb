"""Turns a finished (or aborted) run into its files: parquet tables, summary.json, report.md, the spec."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chaoskit.analysis.summary import RunSummary, summarize
from chaoskit.analysis.verdict import SloTargets
from chaoskit.experiment import Experiment

if TYPE_CHECKING:
    from chaoskit.engine.runner import Engine


def slo_targets(experiment: Experiment) -> SloTargets:
    slo = experiment.slo
    return SloTargets(availability=slo.availability, p99_latency_s=slo.p99_latency, recovery_s=slo.recovery,
                      data=slo.data)


def save_run(engine: Engine, *, aborted: bool) -> Path:
    """Write every file of the run directory (each atomically); returns the summary.json path."""
    run = engine.run_dir
    spec = engine.experiment
    run.write_text("experiment.yaml", yaml.safe_dump(spec.model_dump(mode="json", by_alias=True), sort_keys=False))
    requests = engine.requests_frame()
    events = engine.events_frame()
    run.write_parquet("requests.parquet", requests)
    run.write_parquet("events.parquet", events)
    agent = dataclasses.asdict(engine.agent_report) if engine.agent_report else None
    summary = summarize(requests, events, engine.data_check_results(), slo_targets(spec), experiment=spec.name,
                        backend=engine.cluster.backend, run_id=run.run_id, aborted=aborted, agent=agent)
    context = RunContext(notes=list(engine.notes), load=engine.load_description(), seed=engine.options.seed)
    document: dict[str, Any] = summary.to_dict()
    document["context"] = dataclasses.asdict(context)
    path = run.write_json("summary.json", document)
    run.write_text("report.md", render_report(summary, context))
    return path


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What the engine knows beyond the measurements: how load was offered, and what it noticed on the way."""

    notes: list[str] = dataclasses.field(default_factory=list)
    load: str = ""
    seed: int | None = None
    """The seed of victim choice (and local placement): ``--seed`` replays the same choices."""


def render_report(summary: RunSummary, context: RunContext) -> str:
    """The Markdown report, with the load settings under the title and the engine's notes at the end."""
    from chaoskit.report.markdown import render

    report = render(summary)
    lines = ([f"Load: {context.load}"] if context.load else []) + (
        [f"Seed: {context.seed} (`--seed {context.seed}` picks the same victims)"] if context.seed is not None else [])
    if lines:
        head, sep, rest = report.partition("\n\n## ")
        report = f"{head}\n\n" + "\n\n".join(lines) + f"{sep}{rest}"
    if context.notes:
        report += "\n## Notes from the run\n\n" + "".join(f"- {note}\n" for note in context.notes)
    return report


def load_summary(run_dir: Path) -> tuple[RunSummary, RunContext]:
    """Read a run directory's summary.json back (for `chaoskit report`)."""
    import json

    document = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    context = document.pop("context", {})
    notes = [str(n) for n in context.get("notes", [])]
    seed = context.get("seed")
    return RunSummary.from_dict(document), RunContext(notes=notes, load=str(context.get("load", "")),
                                                      seed=seed if isinstance(seed, int) else None)
