"""A run record into its files (events.parquet, summary.json, report.md, report.html, the spec), and summary.json
back.

requests.parquet is already in the run directory: the collector streamed it there while the run went on.

Reading a run back checks what it reads: summary.json must be of a schema version this chaoskit reads
(``READABLE_VERSIONS``), and the parquet tables must be there, readable, with their columns and as many
request rows as summary.json counted (``check_tables``: parquet metadata only, no row is loaded).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import pandas as pd
import yaml

from chaoskit.analysis.stored import StoredTable
from chaoskit.analysis.summary import SCHEMA_VERSION, RunSummary
from chaoskit.analysis.verdict import SloTargets
from chaoskit.engine.record import RunContext, RunRecord
from chaoskit.engine.rundir import RunDir
from chaoskit.experiment import Experiment
from chaoskit.load.records import REQUEST_COLUMNS
from chaoskit.load.report import worker_from_dict
from chaoskit.vocab import REQUIRED_EVENT_COLUMNS

READABLE_VERSIONS: Final = (SCHEMA_VERSION,)
"""summary.json schema versions this chaoskit reads."""
MAX_SUMMARY_BYTES: Final = 64 * 1024 * 1024
"""A summary of 10,000 firings is a few MB; anything far larger is not one chaoskit wrote."""


class SavedRunError(Exception):
    """A run directory's summary.json cannot be read back (bad input: exit 2); ``hint`` says why."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def slo_targets(experiment: Experiment) -> SloTargets:
    slo = experiment.slo
    return SloTargets(availability=slo.availability, p99_latency_s=slo.p99_latency, recovery_s=slo.recovery,
                      data=slo.data)


def save_run(record: RunRecord, run: RunDir, *, requests: StoredTable | None = None) -> Path:
    """Write every file of the run directory (each atomically), then mark it complete; returns summary.json.

    ``requests`` is the requests table the analysis already scanned (the engine's); without it report.html
    reads requests.parquet in passes itself."""
    spec = record.experiment
    run.write_text("experiment.yaml", yaml.safe_dump(spec.model_dump(mode="json", by_alias=True), sort_keys=False))
    run.write_parquet("events.parquet", record.events)
    path = run.write_json("summary.json", summary_document(record.summary, record.context))
    report_md = render_report(record.summary, record.context)
    run.write_text("report.md", report_md)
    table = record.requests.table() if requests is None else requests
    try:
        run.write_text("report.html", render_html(record.summary, record.context, table, record.events,
                                                  report_md=report_md))
    finally:
        if requests is None:
            table.close()
    run.mark_complete()
    return path


def render_html(summary: RunSummary, context: RunContext, requests: pd.DataFrame | StoredTable, events: pd.DataFrame, *,
                report_md: str) -> str:
    """report.html; if drawing fails, a page that says so (the run's data and report.md are already saved)."""
    from chaoskit.report import html

    try:
        return html.render(summary, requests, events, report_md=report_md, load=context.load, seed=context.seed,
                           version=context.version)
    except Exception as exc:  # a drawing bug must not cost the run its other files
        return html.failed(summary, exc)


def summary_document(summary: RunSummary, context: RunContext) -> dict[str, Any]:
    """summary.json's content: the analysis, plus the engine's context under ``context``."""
    document: dict[str, Any] = summary.to_dict()
    document["context"] = {**dataclasses.asdict(context), "notes": list(context.notes),
                           "workers": [dataclasses.asdict(w) for w in context.workers]}
    return document


def render_report(summary: RunSummary, context: RunContext, *, warnings: Sequence[str] = ()) -> str:
    """The Markdown report, with the load settings under the title and the engine's notes at the end;
    ``warnings`` (a damaged run directory) go first, before anything that might not be backed by data."""
    from chaoskit.report.markdown import render
    from chaoskit.report.workers import workers_section

    report = render(summary, version=context.version or "unknown")
    lines = ([f"Load: {context.load}"] if context.load else []) + (
        [f"Seed: {context.seed} (`--seed {context.seed}` picks the same victims)"] if context.seed is not None else [])
    if lines:
        head, sep, rest = report.partition("\n\n## ")
        report = f"{head}\n\n" + "\n\n".join(lines) + f"{sep}{rest}"
    if warnings:
        head, sep, rest = report.partition("\n\n")
        report = f"{head}\n\n" + "\n>\n".join(f"> **Warning:** {w}" for w in warnings) + f"{sep}{rest}"
    if context.workers:
        report += workers_section(context.workers)
    if context.notes:
        report += "\n## Notes from the run\n\n" + "".join(f"- {note}\n" for note in context.notes)
    return report


def load_summary(run_dir: Path) -> tuple[RunSummary, RunContext]:
    """Read a run directory's summary.json back (for `chaoskit report`); SavedRunError when it cannot be."""
    path = run_dir / "summary.json"
    try:
        if path.stat().st_size > MAX_SUMMARY_BYTES:
            raise SavedRunError(f"{path}: {path.stat().st_size:,} bytes, not a summary chaoskit wrote",
                                hint="pass a directory that `chaoskit run` wrote")
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SavedRunError(f"{path}: unreadable ({exc})", hint="was it written by chaoskit?") from None
    if not isinstance(document, dict):
        raise SavedRunError(f"{path}: not a JSON object", hint="was it written by chaoskit?")
    version = document.get("schema_version")
    if version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise SavedRunError(f"{path}: schema_version {version!r} is not one this chaoskit reads (it reads {readable})",
                            hint="re-render it with the chaoskit version that wrote it, or re-run the experiment")
    try:
        return _decode(document)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise SavedRunError(f"{path}: unreadable ({exc})", hint="was it written by this chaoskit?") from None


def _decode(document: dict[str, Any]) -> tuple[RunSummary, RunContext]:
    context = document.pop("context", {})
    if not isinstance(context, dict):
        raise TypeError("context is not an object")
    notes = tuple(str(n) for n in context.get("notes", []))
    seed = context.get("seed")
    workers = tuple(worker_from_dict(w) for w in context.get("workers", ()) if isinstance(w, dict))
    return RunSummary.from_dict(document), RunContext(notes=notes, load=str(context.get("load", "")),
                                                      seed=seed if isinstance(seed, int) else None,
                                                      version=str(context.get("version", "")), workers=workers)


def check_tables(run_dir: Path, summary: RunSummary) -> list[str]:
    """What is wrong with the run's parquet tables, one line each (empty when both are sound)."""
    problems = []
    recorded = summary.requests + summary.agent.not_sent  # the table also holds the requests never sent
    for name, columns, rows in (("requests.parquet", REQUEST_COLUMNS, recorded),
                                ("events.parquet", REQUIRED_EVENT_COLUMNS, None)):
        problem = _table_problem(run_dir / name, columns, rows)
        if problem:
            problems.append(f"{name}: {problem}; the report is rendered from summary.json alone")
    return problems


def _table_problem(path: Path, columns: Sequence[str], rows: int | None) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        return "missing"
    try:
        meta = pq.read_metadata(path)
    except (OSError, pa.ArrowException, ValueError) as exc:
        return f"not a readable parquet file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    missing = [c for c in columns if c not in meta.schema.names]
    if missing:
        return f"lacks columns {', '.join(missing)}"
    if rows is not None and meta.num_rows != rows:
        return f"holds {meta.num_rows:,} rows, summary.json counted {rows:,} requests"
    return ""
