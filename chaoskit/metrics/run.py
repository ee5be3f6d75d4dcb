"""RunMetrics: one run's Prometheus metrics on its own registry, live while it runs and final after it."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Info

from chaoskit import __version__
from chaoskit.analysis.findings import BUILTIN_RULES
from chaoskit.checks.results import DataCheckResult
from chaoskit.metrics import names
from chaoskit.metrics.exporter import DEFAULT_JOB, PushError, push
from chaoskit.metrics.requests import RequestStats, Target
from chaoskit.metrics.workers import WorkerStats
from chaoskit.vocab import ClusterEvent, EventKind

if TYPE_CHECKING:
    from chaoskit.analysis.summary import RunSummary
    from chaoskit.experiment import Experiment
    from chaoskit.load.report import WorkerReport

_DATA_LABELS = ["experiment", "volume_type", "fault", "placement"]


def fault_of(instance: str) -> str:
    """The spec's fault name of a fault instance (``delete-one-pod#2`` -> ``delete-one-pod``)."""
    return instance.rsplit("#", 1)[0]


class RunMetrics:
    """A RunObserver that keeps one run's metrics; :meth:`finalize` adds the analysed results.

    Labels stay bounded: service names and types, outcomes, fault names and phases come from the spec or
    fixed lists. The run id appears only on :data:`~chaoskit.metrics.names.RUN_INFO` (and as a
    Pushgateway grouping label, once per run).
    """

    def __init__(self, experiment: str, *, backend: str = "", run_id: str = "",
                 targets: Iterable[Target] = (), faults: Iterable[str] = ()) -> None:
        self.experiment = experiment
        self.backend = backend
        self.run_id = run_id
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = RequestStats(experiment, targets=targets)
        self.registry.register(self.requests)
        self.workers = WorkerStats(experiment)
        self.registry.register(self.workers)
        reg = self.registry
        self._faults = Counter(names.FAULTS, "Fault instances injected.", ["experiment", "fault"], registry=reg)
        self._phase = Gauge(names.PHASE, "1 for the phase the run is in.", ["experiment", "phase"], registry=reg)
        self._info = Info(names.RUN_INFO.removesuffix("_info"), "The run this registry describes.", registry=reg)
        self._recovery = Gauge(names.RECOVERY, "Fault instant to recovery, per fault instance and clock.",
                               ["experiment", "fault", "clock"], registry=reg, unit="seconds")
        self._window_total = Gauge(names.ERROR_WINDOW, "Time during which at least one address of the type "
                                   "was in an unavailability window (union over its addresses).",
                                   ["experiment", "service_type"], registry=reg)
        self._window_longest = Gauge(names.ERROR_WINDOW_LONGEST, "Length of the longest unavailability window.",
                                     ["experiment", "service_type"], registry=reg)
        self._windows = Gauge(names.ERROR_WINDOWS, "Number of unavailability windows (all addresses).",
                              ["experiment", "service_type"],
                              registry=reg)
        self._availability = Gauge(names.AVAILABILITY, "ok / requests per phase (phase all: the whole run).",
                                   ["experiment", "service_type", "phase"], registry=reg)
        self._survived = Gauge(names.DATA_SURVIVED, "Share of marker checks whose marker survived.",
                               _DATA_LABELS, registry=reg)
        self._checks = Gauge(names.DATA_CHECKS, "Marker checks made.", _DATA_LABELS, registry=reg)
        self._as_expected = Gauge(names.DATA_AS_EXPECTED, "1 when every marker check matched the expectation.",
                                  _DATA_LABELS, registry=reg)
        self._verdict = Gauge(names.VERDICT, "1 passed, 0 failed, inconclusive or aborted.", ["experiment"],
                              registry=reg)
        self._conclusive = Gauge(names.CONCLUSIVE, "1 when the run supports a verdict (every fault happened, "
                                 "steady state held, load delivered), 0 when inconclusive or aborted.",
                                 ["experiment"], registry=reg)
        self._finding = Gauge(names.FINDING, "1 when the findings rule matched this run (docs/findings.md).",
                              ["experiment", "rule"], registry=reg)
        self._finding_failures = Gauge(names.FINDING_FAILURES, "Failed requests the rule's findings explain.",
                                       ["experiment", "rule"], registry=reg)
        self._lock = threading.Lock()
        self._seen_instances: set[str] = set()
        self._finalized = False
        for fault in faults:
            self._faults.labels(experiment, fault)  # a zero series: the first injection is an increase
        self.on_phase(names.LIVE_PHASES[0], 0)
        self._publish_info()

    @classmethod
    def for_experiment(cls, spec: Experiment, *, backend: str = "", run_id: str = "") -> RunMetrics:
        """Series for every Service, type, outcome and fault of ``spec`` exist from the first scrape."""
        targets = [(s.name, kind.value) for s in spec.load.services for kind in s.types]
        faults = [f.name or f.kind for f in spec.faults]
        return cls(spec.name, backend=backend, run_id=run_id, targets=targets, faults=faults)

    @property
    def finalized(self) -> bool:
        return self._finalized

    def identify(self, *, run_id: str, backend: str | None = None) -> None:
        """Set the run id once the engine has made it (the engine is built after this object)."""
        self.run_id = run_id
        self.backend = self.backend if backend is None else backend
        self._publish_info()

    def _publish_info(self) -> None:
        self._info.info({"experiment": self.experiment, "run_id": self.run_id, "backend": self.backend,
                         "version": __version__})

    # --- RunObserver ---------------------------------------------------------------------------
    def on_phase(self, phase: str, ends_at_ns: int) -> None:
        for known in dict.fromkeys((*names.LIVE_PHASES, phase)):
            self._phase.labels(self.experiment, known).set(1.0 if known == phase else 0.0)

    def on_records(self, records: pd.DataFrame) -> None:
        self.requests.add(records)
        self.workers.add(records)

    def on_event(self, event: ClusterEvent) -> None:
        if event.kind != EventKind.FAULT_BEGIN:
            return
        with self._lock:  # one FAULT_BEGIN per victim: count the instance once
            if event.name in self._seen_instances:
                return
            self._seen_instances.add(event.name)
        self._faults.labels(self.experiment, fault_of(event.name)).inc()

    # --- final values ----------------------------------------------------------------------------
    def finalize(self, summary: RunSummary, *, workers: Sequence[WorkerReport] = ()) -> None:
        """Set the analysed results (recovery, windows, availability, data, verdict) from ``summary``, and each
        load worker's health from its report."""
        self.workers.finish(workers)
        exp = self.experiment
        for fault in summary.recovery:
            for clock, seconds in fault.clocks().items():
                if seconds is not None:  # never ended, not observable, or no failure: no value
                    self._recovery.labels(exp, fault.name, clock).set(seconds)
        for stats in summary.windows:
            self._window_total.labels(exp, stats.service_type).set(stats.unavailable_s)
            self._window_longest.labels(exp, stats.service_type).set(stats.longest.duration_s if stats.longest else 0.0)
            self._windows.labels(exp, stats.service_type).set(stats.count)
        for row in summary.availability:
            if row.ratio is not None:
                self._availability.labels(exp, row.service_type, row.phase).set(row.ratio)
        self._set_data(summary.data)
        self._set_findings(summary)
        self._verdict.labels(exp).set(1.0 if summary.verdict.passed else 0.0)
        self._conclusive.labels(exp).set(0.0 if summary.verdict.inconclusive or summary.verdict.aborted else 1.0)
        self.identify(run_id=summary.run_id, backend=summary.backend)
        self.on_phase(names.LIVE_PHASES[-1], 0)
        self._finalized = True

    def _set_data(self, results: Iterable[DataCheckResult]) -> None:
        groups: dict[tuple[str, str, str], list[DataCheckResult]] = defaultdict(list)
        for result in results:
            if result.checked:  # a row that could not be checked is neither survived nor lost
                groups[(result.volume_type, result.fault, result.placement)].append(result)
        for (volume_type, fault, placement), checks in groups.items():
            labels = (self.experiment, volume_type, fault, placement)
            self._survived.labels(*labels).set(sum(c.survived for c in checks) / len(checks))
            self._checks.labels(*labels).set(len(checks))
            self._as_expected.labels(*labels).set(1.0 if all(c.as_expected for c in checks) else 0.0)

    def _set_findings(self, summary: RunSummary) -> None:
        """Every built-in rule gets a series (0: it did not match), plus any other rule that matched."""
        explained: dict[str, int] = {rule.id: 0 for rule in BUILTIN_RULES}
        matched = {f.rule for f in summary.findings}
        for finding in summary.findings:
            explained[finding.rule] = explained.get(finding.rule, 0) + finding.evidence.failures
        for rule, failures in explained.items():
            self._finding.labels(self.experiment, rule).set(1.0 if rule in matched else 0.0)
            self._finding_failures.labels(self.experiment, rule).set(failures)

    def push(self, url: str, *, job: str = DEFAULT_JOB, timeout_s: float = 10.0) -> None:
        """Push every metric to the Pushgateway at ``url``, grouped by experiment and run."""
        if not self.run_id:
            raise PushError("no run id to group the push by", hint="push after the engine has created the run")
        push(self.registry, url, grouping={"experiment": self.experiment, "run": self.run_id}, job=job,
             timeout_s=timeout_s)
