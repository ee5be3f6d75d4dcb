"""Synthetic run directories with known answers, written by the real save path (for report, compare, JUnit and
loading tests that need no cluster)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from chaoskit import kinds
from chaoskit.analysis import RunSummary, SloTargets, summarize
from chaoskit.analysis.evidence import FiringOutcome, RunFacts
from chaoskit.analysis.repeats import SeriesRun
from chaoskit.analysis.synthetic import (
    T0_NS,
    Outage,
    PodDeleteScript,
    events_frame,
    pod_delete_events,
    synthetic_requests,
)
from chaoskit.checks.results import DataCheckResult
from chaoskit.engine.record import RunContext, RunRecord
from chaoskit.engine.rundir import RunDir
from chaoskit.engine.save import save_run
from chaoskit.engine.spool import StoredRequests

ROOT = Path(__file__).resolve().parents[1]
PHASES = [("baseline", 5.0), ("chaos", 20.0), ("recovery", 8.0)]
FAULTS = (11.0, 17.0, 23.0)
DATA = (
    DataCheckResult("scratch", "emptyDir", "pod-delete", "pod-replaced", "same-node", False, "lost", "a", "b", "n1",
                    "n1"),
    DataCheckResult("node-data", "hostPath", "pod-delete", "pod-replaced", "other-node", False, "lost", "a", "c",
                    "n1", "n2"),
)  # fmt: skip
"""As expected: both markers lost."""
LOST_HOSTPATH = DataCheckResult("node-data", "hostPath", "pod-delete", "pod-replaced", "same-node", False, "survives",
                                "a", "d", "n1", "n1")
"""Not as expected: a hostPath marker gone although the replacement ran on the same node."""


def synthetic_summary(*, outage_s: float = 0.03, seed: int = 1, experiment: str = "pod-recreate",
                      run_id: str = "run", availability: float | None = 0.99, facts: RunFacts | None = None,
                      data: Sequence[DataCheckResult] = DATA,
                      slo_data: bool = True) -> tuple[RunSummary, pd.DataFrame, pd.DataFrame]:
    """A pod-delete run of 33 s at 100 req/s per type; each fault costs ``outage_s`` of refused requests."""
    outages = [Outage(t, f, f + outage_s) for f in FAULTS for t in ("ClusterIP", "NodePort")]
    requests = synthetic_requests(duration_s=33, rate=100, outages=outages, seed=seed)
    events = events_frame(pod_delete_events(PodDeleteScript(FAULTS, replacement_ready_s=1.0 + seed * 0.01),
                                            phases=PHASES))
    slo = SloTargets(availability=availability, recovery_s=5.0, p99_latency_s=1.0, data=slo_data)
    summary = summarize(requests, events, list(data), slo, experiment=experiment, backend="local", run_id=run_id,
                        aborted=False, agent={"cpu_utilisation": 0.2}, facts=facts)
    return summary, requests, events


def firings() -> RunFacts:
    """The three firings of :data:`FAULTS`, as the engine records them (all injected)."""
    found = tuple(FiringOutcome(f"pod-delete-0#{k}", "pod-delete", T0_NS + int(at * 1e9), T0_NS + int(at * 1e9), 1,
                                (f"chaoskit-target-5d8f-p{k}",)) for k, at in enumerate(FAULTS))
    return RunFacts(firings=found, planned_firings=len(found))


def store_requests(run_dir: Path, requests: pd.DataFrame) -> StoredRequests:
    """requests.parquet in ``run_dir``, where a run's collector streams it (``save_run`` writes the other files)."""
    path = run_dir / "requests.parquet"
    requests.to_parquet(path, index=False)
    return StoredRequests.at(path)


def write_run(root: Path, *, outage_s: float = 0.03, seed: int = 1, experiment: str = "pod-recreate",
              **kwargs: object) -> Path:
    """A run directory under ``root`` written by ``save_run`` (every file a real run has)."""
    spec = kinds.load_experiment(ROOT / "experiments" / "pod-recreate.yaml")
    run = RunDir(root, experiment)
    summary, requests, events = synthetic_summary(outage_s=outage_s, seed=seed, experiment=experiment,
                                                  run_id=run.run_id, **kwargs)  # type: ignore[arg-type]
    record = RunRecord(run_dir=run.path, experiment=spec, requests=store_requests(run.path, requests), events=events,
                       summary=summary, context=RunContext(load="100 req/s", seed=seed, version="test"))
    save_run(record, run)
    return run.path


def write_series(root: Path, outages: Sequence[float], *, interrupted: bool = False) -> Path:
    """A repeat series directory: runs written by ``save_run`` inside it, the aggregate by the CLI's writer."""
    from chaoskit.cli.repeat import write_aggregate
    from chaoskit.engine.save import load_summary

    series = RunDir(root, f"pod-recreate-x{len(outages)}")
    entries = []
    for i, outage in enumerate(outages):
        run_dir = write_run(series.path, outage_s=outage, seed=i + 1, facts=firings())
        summary, context = load_summary(run_dir)
        entries.append((summary, SeriesRun(summary.run_id, str(summary.verdict.outcome), context.seed, run_dir.name)))
    write_aggregate(series, "pod-recreate", "local", entries, asked=len(outages), interrupted=interrupted)
    return series.path
