"""Repeated runs of one experiment: the verdict over the series and each metric's mean with a 95 % interval.

The verdict over N runs (README, "Repeated runs"), the first rule that applies:

* ABORTED: the series was interrupted (the finished runs are kept and summarised).
* INCONCLUSIVE: no run was conclusive (every run was INCONCLUSIVE).
* FAIL: some conclusive run failed and none passed.
* FLAKY: some runs passed and some failed: the service meets its SLOs only sometimes.
* INCONCLUSIVE: every conclusive run passed, but some run was inconclusive: "always passes" is not shown.
* PASS: every run passed.

A failed conclusive run is evidence whatever the other runs were, so FAIL and FLAKY come before the
"some run was inconclusive" rule: an inconclusive run never hides a demonstrated SLO violation.

Statistics use the *conclusive* runs only (PASS or FAIL): an inconclusive run's numbers are not evidence
(its fault did not happen, or its load was not delivered), and an aborted run is partial.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chaoskit.analysis.codec import DecodeError, from_jsonable, to_jsonable
from chaoskit.analysis.recovery import CLOCKS
from chaoskit.analysis.stats import CONFIDENCE, RESAMPLES, SEED, Interval, bootstrap_mean
from chaoskit.analysis.summary import RunSummary
from chaoskit.analysis.verdict import Outcome

MAX_REPEATS: Final = 100
"""``--repeat`` above this is refused: a series that long is a soak test, not repeats."""
AGGREGATE_SCHEMA_VERSION: Final = 1


class SeriesOutcome(enum.StrEnum):
    PASS = "PASS"  # noqa: S105 (a verdict, not a password)
    FAIL = "FAIL"
    FLAKY = "FLAKY"
    INCONCLUSIVE = "INCONCLUSIVE"
    ABORTED = "ABORTED"


RULE: Final = (
    "ABORTED if the series was interrupted; INCONCLUSIVE if no run was conclusive; FAIL if no run passed and "
    "one failed; FLAKY if some passed and some failed; INCONCLUSIVE if none failed but one was inconclusive; "
    "PASS only when every run passed. Statistics use the conclusive runs (PASS or FAIL) only."
)


@dataclass(frozen=True)
class MetricSpec:
    """One metric compared across runs: what it is, its unit, which direction is worse."""

    metric: str
    title: str
    unit: str
    """``ratio``, ``s`` or ``ms``."""
    higher_is_worse: bool
    judged: bool
    """Looked at by ``compare --fail-on-regression``."""
    definition: str


METRICS: Final = {
    spec.metric: spec
    for spec in (
        MetricSpec("availability", "Availability", "ratio", False, True,
                   "ok requests / requests over the whole run, per Service type"),
        MetricSpec("longest_window_s", "Longest window", "s", True, True,
                   "the longest unavailability window of any address of the type (start of a failed request "
                   "to the start of the next success)"),
        MetricSpec("unavailable_s", "Unavailable", "s", True, False,
                   "time during which at least one address of the type was in a window"),
        MetricSpec("p99_ms", "p99 latency", "ms", True, True,
                   "p99 of successful requests over chaos + recovery (what the latency SLO judges)"),
        MetricSpec("recovery_s", "Recovery (worst clock)", "s", True, True,
                   "the fault's longest recovery clock (what the recovery SLO judges)"),
        *(MetricSpec(f"clock.{clock}", clock.replace("_", " ").capitalize(), "s", True, False,
                     f"recovery clock {clock}, seconds from the fault instant") for clock in CLOCKS),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Measurement:
    value: float | None
    """None: not measured in this run (no requests, no failure to recover from)."""
    never: bool = False
    """The clock never stopped: the fault never recovered in this run."""


@dataclass(frozen=True)
class MetricStats:
    """One metric on one scope (a Service type, a fault instance) over the conclusive runs."""

    metric: str
    scope: str
    values: tuple[float | None, ...]
    """One per conclusive run, in run order; None when not measured or never."""
    never: int
    """Runs in which this clock never stopped."""
    interval: Interval | None
    """Mean and interval of the measured values; None when no run measured it."""


@dataclass(frozen=True)
class SeriesRun:
    """One run of the series as the aggregate lists it."""

    run_id: str
    outcome: str
    seed: int | None
    dir: str
    """The run directory, relative to the aggregate directory."""
    headline: str = ""


@dataclass(frozen=True)
class SeriesVerdict:
    outcome: str
    """A ``SeriesOutcome`` value."""
    runs: int
    asked: int
    passed: int
    failed: int
    inconclusive: int
    aborted: int
    sentence: str
    rule: str = RULE


@dataclass(frozen=True)
class Aggregate:
    """What ``summary.json`` of an aggregate directory holds (its JSON form: ``to_dict``)."""

    experiment: str
    backend: str
    series_id: str
    verdict: SeriesVerdict
    runs: tuple[SeriesRun, ...]
    evidence: tuple[str, ...]
    """Run ids the statistics use (the conclusive runs)."""
    metrics: tuple[MetricStats, ...]
    confidence: float = CONFIDENCE
    resamples: int = RESAMPLES
    seed: int = SEED
    kind: str = "chaoskit.repeat"
    schema_version: int = AGGREGATE_SCHEMA_VERSION

    @property
    def aborted(self) -> bool:
        return self.verdict.outcome == SeriesOutcome.ABORTED

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = to_jsonable(self)
        return {"kind": self.kind, **data}  # first: a reader tells an aggregate from a run by its first bytes

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Aggregate:
        """Rebuild from :meth:`to_dict` output (an aggregate directory's summary.json)."""
        version = data.get("schema_version")
        if data.get("kind") != "chaoskit.repeat" or version != AGGREGATE_SCHEMA_VERSION:
            raise DecodeError(f"not a chaoskit aggregate of schema {AGGREGATE_SCHEMA_VERSION} "
                              f"(kind {data.get('kind')!r}, schema_version {version!r})")
        return from_jsonable(cls, data)


def series_verdict(outcomes: Sequence[str], *, asked: int, interrupted: bool) -> SeriesVerdict:
    """The verdict over the runs' outcomes (the module docstring states the rule)."""
    passed = sum(o == Outcome.PASS for o in outcomes)
    failed = sum(o == Outcome.FAIL for o in outcomes)
    inconclusive = sum(o == Outcome.INCONCLUSIVE for o in outcomes)
    aborted = sum(o == Outcome.ABORTED for o in outcomes)
    if interrupted:
        outcome = SeriesOutcome.ABORTED
    elif passed + failed == 0:
        outcome = SeriesOutcome.INCONCLUSIVE
    elif failed and not passed:
        outcome = SeriesOutcome.FAIL
    elif failed:
        outcome = SeriesOutcome.FLAKY
    elif inconclusive:
        outcome = SeriesOutcome.INCONCLUSIVE
    else:
        outcome = SeriesOutcome.PASS
    finished = len(outcomes) - aborted
    parts = [f"{failed} failed"] * bool(failed) + [f"{inconclusive} inconclusive"] * bool(inconclusive)
    counts = f"passed {passed} of {finished}" + (f" ({', '.join(parts)})" if parts else "")
    tail = f"; interrupted after {finished} of {asked} runs" if interrupted else ""
    return SeriesVerdict(str(outcome), len(outcomes), asked, passed, failed, inconclusive, aborted,
                         f"{outcome}: {counts}{tail}")


def evidence(summaries: Sequence[RunSummary]) -> list[RunSummary]:
    """The conclusive runs (PASS or FAIL): the ones whose numbers are evidence."""
    return [s for s in summaries if s.verdict.outcome in (Outcome.PASS, Outcome.FAIL)]


def measurements(summary: RunSummary) -> dict[tuple[str, str], Measurement]:
    """Every metric of one run, keyed by (metric, scope)."""
    found: dict[tuple[str, str], Measurement] = {}
    for service_type in summary.service_types:
        found[("availability", service_type)] = Measurement(summary.overall(service_type).ratio)
    for w in summary.windows:
        found[("longest_window_s", w.service_type)] = Measurement(w.longest.duration_s if w.longest else 0.0)
        found[("unavailable_s", w.service_type)] = Measurement(w.unavailable_s)
    for service_type, p99 in summary.slo_p99_ms.items():
        found[("p99_ms", service_type)] = Measurement(p99)
    for fault in summary.recovery:
        found[("recovery_s", fault.name)] = Measurement(fault.recovery_s, never=bool(fault.never_recovered))
        for clock, value in fault.clocks().items():
            found[(f"clock.{clock}", fault.name)] = Measurement(value, never=clock in fault.never_recovered)
    return found


def metric_stats(summaries: Sequence[RunSummary], *, seed: int = SEED) -> tuple[MetricStats, ...]:
    """Each metric over the given runs (call with :func:`evidence`), in :data:`METRICS` order, then scope."""
    per_run = [measurements(s) for s in summaries]
    keys = sorted({k for m in per_run for k in m}, key=_order)
    stats = []
    for key in keys:
        taken = [m.get(key, Measurement(None)) for m in per_run]
        values = tuple(None if t.never else t.value for t in taken)
        measured = [v for v in values if v is not None and math.isfinite(v)]
        interval = bootstrap_mean(measured, seed=seed) if measured else None
        stats.append(MetricStats(key[0], key[1], values, sum(t.never for t in taken), interval))
    return tuple(stats)


def _order(key: tuple[str, str]) -> tuple[int, str]:
    names = list(METRICS)
    return (names.index(key[0]) if key[0] in names else len(names), key[1])


def aggregate(runs: Sequence[tuple[RunSummary, SeriesRun]], *, experiment: str, backend: str, series_id: str,
              asked: int, interrupted: bool, seed: int = SEED) -> Aggregate:
    """The aggregate of a series: the verdict over every run, statistics over the conclusive ones."""
    summaries = [s for s, _ in runs]
    verdict = series_verdict([s.verdict.outcome for s in summaries], asked=asked, interrupted=interrupted)
    used = evidence(summaries)
    return Aggregate(
        experiment=experiment, backend=backend, series_id=series_id, verdict=verdict,
        runs=tuple(entry for _, entry in runs), evidence=tuple(s.run_id for s in used),
        metrics=metric_stats(used, seed=seed), seed=seed,
    )  # fmt: skip
