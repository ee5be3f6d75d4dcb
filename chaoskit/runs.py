"""Saved runs as pandas DataFrames, for your own analysis (docs/analysis.md): ``chaoskit.runs.load(path)``.

``path`` is a run directory (``runs/<time>-<name>/``) or the aggregate directory of a repeat series
(``runs/<time>-<name>-x<N>/``, its runs inside it). Every table has a ``run_id`` column, so one run and a series
are analysed the same way. Column names are part of chaoskit's interface: the ``*_COLUMNS`` constants below list
them, and a test keeps them stable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd

from chaoskit.analysis.availability import ALL_PHASES
from chaoskit.analysis.codec import DecodeError
from chaoskit.analysis.recovery import CLOCKS
from chaoskit.analysis.repeats import Aggregate, measurements
from chaoskit.analysis.summary import RunSummary
from chaoskit.engine.record import RunContext
from chaoskit.engine.save import SavedRunError, load_summary

RUN_COLUMNS: Final = ("run_id", "experiment", "backend", "outcome", "aborted", "seed", "requests", "started_ns",
                      "dir")  # fmt: skip
"""``runs``: one row per run. ``started_ns``: the first phase's begin (wall clock); ``dir``: the run directory."""
ADDED_COLUMNS: Final = ("run_id", "t_s")
"""Added to requests.parquet and events.parquet: the run, and seconds since its first phase began (start time
for requests, the event's time for events)."""
RECOVERY_COLUMNS: Final = ("run_id", "fault", "kind", "at_s", "victims", "failures", *CLOCKS, "recovery_s",
                           "never_recovered")  # fmt: skip
"""``recovery``: one row per fault instance; each clock in seconds from the fault instant (NaN: never, n/a or no
failure; ``never_recovered`` lists the clocks that never stopped)."""
WINDOW_COLUMNS: Final = ("run_id", "service_type", "address", "windows", "failed", "total_s", "longest_s", "open")
"""``windows``: one row per address with its unavailability windows summed (windows.py has the definition)."""
AVAILABILITY_COLUMNS: Final = ("run_id", "service_type", "phase", "requests", "failed", "ratio")
"""``availability``: one row per Service type and phase (``all``: the whole run)."""
METRIC_COLUMNS: Final = ("run_id", "metric", "scope", "value", "never")
"""``metrics``: every metric the repeat and compare reports use, one row per run, metric and scope."""


class RunLoadError(ValueError):
    """A directory that is not a readable chaoskit run or aggregate."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Runs:
    """A run or a series, loaded. ``summaries``: the full analysis of each run (``RunSummary``, by run id)."""

    path: Path
    kind: str
    """``run`` or ``repeat``."""
    runs: pd.DataFrame
    requests: pd.DataFrame
    events: pd.DataFrame
    recovery: pd.DataFrame
    windows: pd.DataFrame
    availability: pd.DataFrame
    metrics: pd.DataFrame
    summaries: dict[str, RunSummary] = field(default_factory=dict)
    aggregate: Aggregate | None = None


AGGREGATE_KIND = "chaoskit.repeat"
_KIND_PEEK_BYTES = 4096


def is_aggregate(path: Path) -> bool:
    """Whether ``path`` holds a repeat series' aggregate: its summary.json says ``"kind": "chaoskit.repeat"`` near
    the top. Only the first bytes are read, so an unreadable or huge summary is left to the reader to report."""
    try:
        with (path / "summary.json").open("rb") as handle:
            head = handle.read(_KIND_PEEK_BYTES)
    except OSError:
        return False
    return f'"kind": "{AGGREGATE_KIND}"'.encode() in head


def read_aggregate(path: Path) -> Aggregate:
    try:
        return Aggregate.from_dict(_read_json(path / "summary.json"))
    except DecodeError as exc:
        raise RunLoadError(f"{path / 'summary.json'}: {exc}", hint="was it written by this chaoskit?") from exc


def run_dirs(path: Path) -> list[Path]:
    """The run directories behind ``path``: itself, or the runs of an aggregate."""
    if not (path / "summary.json").is_file():
        raise RunLoadError(f"{path}: no summary.json here", hint="pass a directory that `chaoskit run` wrote")
    if is_aggregate(path):
        return [path / r.dir for r in read_aggregate(path).runs]
    return [path]


def read_runs(path: Path) -> list[tuple[RunSummary, RunContext, Path]]:
    """Each run's summary and context (summary.json only: fast, no parquet)."""
    found = []
    for run_dir in run_dirs(path):
        try:
            summary, context = load_summary(run_dir)
        except FileNotFoundError as exc:
            raise RunLoadError(f"{run_dir}: missing ({exc.filename})",
                               hint="the series directory is incomplete") from exc
        except SavedRunError as exc:
            raise RunLoadError(str(exc), hint=exc.hint) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise RunLoadError(f"{run_dir / 'summary.json'}: unreadable ({exc})",
                               hint="was it written by this chaoskit? `chaoskit --version` says which") from exc
        found.append((summary, context, run_dir))
    return found


def load(path: str | Path, *, tables: bool = True) -> Runs:
    """Load a run or a series into DataFrames. ``tables=False`` skips requests and events (the big ones)."""
    root = Path(path)
    loaded = read_runs(root)
    summaries = {s.run_id: s for s, _, _ in loaded}
    return Runs(
        path=root,
        kind="repeat" if is_aggregate(root) else "run",
        runs=_frame([_run_row(s, c, d) for s, c, d in loaded], RUN_COLUMNS),
        requests=_concat(loaded, "requests.parquet", "start_ns") if tables else pd.DataFrame(),
        events=_concat(loaded, "events.parquet", "ts_ns") if tables else pd.DataFrame(),
        recovery=_frame([r for s in summaries.values() for r in _recovery_rows(s)], RECOVERY_COLUMNS),
        windows=_frame([[s.run_id, a.service_type, a.address, a.count, a.failed, a.total_s, a.longest_s, a.open]
                        for s in summaries.values() for w in s.windows for a in w.addresses], WINDOW_COLUMNS),
        availability=_frame([[s.run_id, r.service_type, r.phase, r.requests, r.failed, r.ratio]
                             for s in summaries.values() for r in s.availability], AVAILABILITY_COLUMNS),
        metrics=_frame([[s.run_id, key[0], key[1], m.value, m.never] for s in summaries.values()
                        for key, m in measurements(s).items()], METRIC_COLUMNS),
        summaries=summaries,
        aggregate=read_aggregate(root) if is_aggregate(root) else None,
    )


def _run_row(s: RunSummary, c: RunContext, run_dir: Path) -> list[Any]:
    started = s.phases[0].begin_ns if s.phases else None
    return [s.run_id, s.experiment, s.backend, str(s.verdict.outcome), s.aborted, c.seed, s.requests, started,
            str(run_dir)]


def _recovery_rows(s: RunSummary) -> Iterable[list[Any]]:
    origin = s.phases[0].begin_ns if s.phases else 0
    for f in s.recovery:
        yield [s.run_id, f.name, f.kind, (f.begin_ns - origin) / 1e9, list(f.victims), f.failures,
               *f.clocks().values(), f.recovery_s, list(f.never_recovered)]


def _frame(rows: list[list[Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def _concat(loaded: list[tuple[RunSummary, RunContext, Path]], name: str, time_column: str) -> pd.DataFrame:
    frames = []
    for summary, _, run_dir in loaded:
        frame = pd.read_parquet(run_dir / name)
        origin = summary.phases[0].begin_ns if summary.phases else 0
        frame.insert(0, "run_id", summary.run_id)
        frame["t_s"] = (frame[time_column].to_numpy() - origin) / 1e9
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    merged["run_id"] = merged["run_id"].astype("category")
    return merged


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunLoadError(f"{path.parent}: no summary.json here",
                           hint="pass a directory that `chaoskit run` wrote") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise RunLoadError(f"{path}: unreadable ({exc})", hint="was it written by this chaoskit?") from exc
    if not isinstance(data, dict):
        raise RunLoadError(f"{path}: not a chaoskit summary", hint="was it written by this chaoskit?")
    return data


__all__ = ["ADDED_COLUMNS", "ALL_PHASES", "AVAILABILITY_COLUMNS", "METRIC_COLUMNS", "RECOVERY_COLUMNS",
           "RUN_COLUMNS", "WINDOW_COLUMNS", "RunLoadError", "Runs", "is_aggregate", "load", "read_aggregate",
           "read_runs", "run_dirs"]  # fmt: skip
