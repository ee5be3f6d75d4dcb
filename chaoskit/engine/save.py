"""A run record into its files (events.parquet, summary.json, report.md, the spec), and summary.json back.

requests.parquet is already in the run directory: the collector streamed it there while the run went on.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from chaoskit.analysis.summary import RunSummary
from chaoskit.analysis.verdict import SloTargets
from chaoskit.engine.record import RunContext, RunRecord
from chaoskit.engine.rundir import RunDir
from chaoskit.experiment import Experiment
from chaoskit.load.report import worker_from_dict


def slo_targets(experiment: Experiment) -> SloTargets:
    slo = experiment.slo
    return SloTargets(availability=slo.availability, p99_latency_s=slo.p99_latency, recovery_s=slo.recovery,
                      data=slo.data)


def save_run(record: RunRecord, run: RunDir) -> Path:
    """Write every file of the run directory (each atomically); returns the summary.json path."""
    spec = record.experiment
    run.write_text("experiment.yaml", yaml.safe_dump(spec.model_dump(mode="json", by_alias=True), sort_keys=False))
    run.write_parquet("events.parquet", record.events)
    path = run.write_json("summary.json", summary_document(record.summary, record.context))
    run.write_text("report.md", render_report(record.summary, record.context))
    return path


def summary_document(summary: RunSummary, context: RunContext) -> dict[str, Any]:
    """summary.json's content: the analysis, plus the engine's context under ``context``."""
    document: dict[str, Any] = summary.to_dict()
    document["context"] = {**dataclasses.asdict(context), "notes": list(context.notes),
                           "workers": [dataclasses.asdict(w) for w in context.workers]}
    return document


def render_report(summary: RunSummary, context: RunContext) -> str:
    """The Markdown report, with the load settings under the title and the engine's notes at the end."""
    from chaoskit.report.markdown import render
    from chaoskit.report.workers import workers_section

    report = render(summary, version=context.version or "unknown")
    lines = ([f"Load: {context.load}"] if context.load else []) + (
        [f"Seed: {context.seed} (`--seed {context.seed}` picks the same victims)"] if context.seed is not None else [])
    if lines:
        head, sep, rest = report.partition("\n\n## ")
        report = f"{head}\n\n" + "\n\n".join(lines) + f"{sep}{rest}"
    if context.workers:
        report += workers_section(context.workers)
    if context.notes:
        report += "\n## Notes from the run\n\n" + "".join(f"- {note}\n" for note in context.notes)
    return report


def load_summary(run_dir: Path) -> tuple[RunSummary, RunContext]:
    """Read a run directory's summary.json back (for `chaoskit report`)."""
    document = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    context = document.pop("context", {})
    notes = tuple(str(n) for n in context.get("notes", []))
    seed = context.get("seed")
    workers = tuple(worker_from_dict(w) for w in context.get("workers", ()) if isinstance(w, dict))
    return RunSummary.from_dict(document), RunContext(notes=notes, load=str(context.get("load", "")),
                                                      seed=seed if isinstance(seed, int) else None,
                                                      version=str(context.get("version", "")), workers=workers)
