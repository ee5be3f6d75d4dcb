"""A finished (or aborted) run as a value: what the engine returns, what ``save`` writes and the CLI renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from chaoskit.analysis.summary import RunSummary
from chaoskit.engine.spool import StoredRequests
from chaoskit.experiment import Experiment
from chaoskit.load.report import AgentReport, WorkerReport


@dataclass(frozen=True)
class RunContext:
    """What the engine knows beyond the measurements: how load was offered, and what it noticed on the way."""

    notes: tuple[str, ...] = ()
    load: str = ""
    """How load was offered (rate, connection mode, timeout, addresses), one line."""
    seed: int | None = None
    """The seed of victim choice (and local placement): ``--seed`` replays the same choices."""
    version: str = ""
    """The chaoskit that made the run (empty for runs older than this field)."""
    workers: tuple[WorkerReport, ...] = ()
    """Each load worker's health (planned vs delivered, lag, CPU, clock); empty when no agent reported."""


@dataclass(frozen=True)
class RunRecord:
    """One run: the spec it ran, the raw tables, the analysis, and the engine's context."""

    run_dir: Path
    experiment: Experiment
    requests: StoredRequests
    """One row per scheduled request (columns: ``chaoskit.load.records.STORED_COLUMNS``), in requests.parquet:
    ``requests.frame()`` reads it (the record does not hold the rows)."""
    events: pd.DataFrame
    """One row per cluster event (columns: ``chaoskit.vocab.EVENT_COLUMNS``)."""
    summary: RunSummary
    context: RunContext = field(default_factory=RunContext)
    agent: AgentReport | None = None
    """The load agents' own account; None when they never finished."""

    @property
    def aborted(self) -> bool:
        return self.summary.aborted

    @property
    def run_id(self) -> str:
        return self.summary.run_id
