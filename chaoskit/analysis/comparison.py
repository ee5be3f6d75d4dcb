"""Two sets of runs of one experiment side by side (``chaoskit compare BASE CANDIDATE``): each metric's mean on
both sides, the difference (candidate minus base) with its bootstrap interval, and which differences are
significant and which are regressions.

* Each side is one run or the runs of a series; statistics use its conclusive runs (repeats.py), or every
  finished run when none was conclusive (and the comparison says so).
* A difference is *significant* when its 95 % interval excludes zero. With a single run on a side there is
  no interval: nothing is significant, and the comparison says so.
* *Change*: the relative change in the worse direction, in percent (positive = worse). For availability it is
  the change of the failed share (1 - availability): 99.9 % to 99.8 % is +100 % (twice the failures).
* A *regression* (``--fail-on-regression PCT``): on a judged metric (repeats.METRICS), the change is worse by
  more than PCT and the difference is significant; with single runs, where nothing can be significant, the
  point estimate alone decides and the comparison marks the regression *unconfirmed*. A fault that never
  recovered in some candidate run but in no base run is a regression too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from chaoskit.analysis.repeats import METRICS, MetricStats, evidence, metric_stats
from chaoskit.analysis.stats import SEED, Interval, bootstrap_difference
from chaoskit.analysis.summary import RunSummary
from chaoskit.analysis.verdict import Outcome


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its runs and what the statistics used."""

    label: str
    runs: int
    passed: int
    used: int
    """Runs behind the statistics."""
    note: str = ""


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    scope: str
    base: Interval | None
    candidate: Interval | None
    base_never: int
    candidate_never: int
    difference: Interval | None
    """candidate - base; None when a side did not measure it."""
    change_pct: float | None
    """Relative change in the worse direction, percent; ``inf`` when the base was 0; None when unknown."""
    significant: bool | None
    """None: no interval could be computed (a single run on a side)."""
    regression: bool = False
    unconfirmed: bool = False
    """A regression judged on point estimates alone (single runs)."""

    @property
    def judged(self) -> bool:
        return METRICS[self.metric].judged if self.metric in METRICS else False


@dataclass(frozen=True)
class Comparison:
    experiment: str
    base: Side
    candidate: Side
    rows: tuple[MetricComparison, ...]
    regression_pct: float | None
    notes: tuple[str, ...] = ()

    @property
    def regressions(self) -> tuple[MetricComparison, ...]:
        return tuple(r for r in self.rows if r.regression)

    @property
    def single_runs(self) -> bool:
        return min(self.base.used, self.candidate.used) < 2


def incompatibilities(base: Sequence[RunSummary], candidate: Sequence[RunSummary]) -> list[str]:
    """Why two sets of runs cannot be compared (empty when they can)."""
    problems = []
    for name, side in (("base", base), ("candidate", candidate)):
        if not side:
            problems.append(f"{name}: no finished run to compare")
    if problems:
        return problems
    for attribute in ("experiment", "schema_version"):
        seen_b = sorted({str(getattr(s, attribute)) for s in base})
        seen_c = sorted({str(getattr(s, attribute)) for s in candidate})
        if seen_b != seen_c:
            problems.append(f"{attribute}: base {', '.join(seen_b)} vs candidate {', '.join(seen_c)}")
    return problems


def compare(base: Sequence[RunSummary], candidate: Sequence[RunSummary], *, base_label: str = "base",
            candidate_label: str = "candidate", regression_pct: float | None = None, seed: int = SEED) -> Comparison:
    """Compare two sets of finished runs of one experiment (check :func:`incompatibilities` first)."""
    b_side, b_runs = _side(base_label, base)
    c_side, c_runs = _side(candidate_label, candidate)
    b_stats = {(m.metric, m.scope): m for m in metric_stats(b_runs, seed=seed)}
    c_stats = {(m.metric, m.scope): m for m in metric_stats(c_runs, seed=seed)}
    rows = [_row(key, b_stats.get(key), c_stats.get(key), regression_pct, seed)
            for key in [*b_stats, *(k for k in c_stats if k not in b_stats)]]
    notes = [n for n in (b_side.note, c_side.note) if n]
    if min(b_side.used, c_side.used) < 2:
        notes.append("a side has a single run: no confidence interval can be computed, so no difference is "
                     "significant; run with --repeat N (N >= 5) on both sides for intervals")
    only_b = sorted({k[1] for k in b_stats} - {k[1] for k in c_stats})
    only_c = sorted({k[1] for k in c_stats} - {k[1] for k in b_stats})
    if only_b or only_c:
        notes.append(f"measured on one side only: base {', '.join(only_b) or '-'}; "
                     f"candidate {', '.join(only_c) or '-'}")
    experiment = base[0].experiment if base else candidate[0].experiment
    return Comparison(experiment, b_side, c_side, tuple(rows), regression_pct, tuple(notes))


def _side(label: str, runs: Sequence[RunSummary]) -> tuple[Side, list[RunSummary]]:
    finished = [s for s in runs if s.verdict.outcome != Outcome.ABORTED]
    used = evidence(finished)
    note = ""
    if not used:
        used = finished
        note = f"{label}: no run was conclusive; its numbers come from inconclusive runs and are weak evidence"
    passed = sum(s.verdict.outcome == Outcome.PASS for s in runs)
    return Side(label, len(runs), passed, len(used), note), used


def _measured(stats: MetricStats | None) -> list[float]:
    return [v for v in stats.values if v is not None] if stats is not None else []


def _row(key: tuple[str, str], b: MetricStats | None, c: MetricStats | None, regression_pct: float | None,
         seed: int) -> MetricComparison:
    metric, scope = key
    b_values, c_values = _measured(b), _measured(c)
    difference = bootstrap_difference(b_values, c_values, seed=seed) if b_values and c_values else None
    change = _change(metric, b.interval if b else None, c.interval if c else None)
    significant = None if difference is None or not difference.has_interval else difference.excludes(0.0)
    b_never, c_never = (b.never if b else 0), (c.never if c else 0)
    row = MetricComparison(metric, scope, b.interval if b else None, c.interval if c else None, b_never, c_never,
                           difference, change, significant)
    return _judge(row, regression_pct, len(b.values) if b else 0, len(c.values) if c else 0)


def _change(metric: str, b: Interval | None, c: Interval | None) -> float | None:
    """Relative change in the worse direction, percent (availability: of the failed share)."""
    if b is None or c is None:
        return None
    spec = METRICS.get(metric)
    base, cand = b.estimate, c.estimate
    if spec is not None and spec.unit == "ratio":
        base, cand = 1 - base, 1 - cand  # failed share: higher is worse
    elif spec is not None and not spec.higher_is_worse:
        base, cand = -base, -cand
    if base == 0:
        return 0.0 if cand == 0 else math.inf if cand > 0 else -math.inf
    return (cand - base) / abs(base) * 100


def _judge(row: MetricComparison, pct: float | None, b_runs: int, c_runs: int) -> MetricComparison:
    if pct is None or not row.judged:
        return row
    if b_runs and c_runs and row.candidate_never / c_runs > row.base_never / b_runs:
        return replace(row, regression=True)
    if row.change_pct is None or row.change_pct <= pct:
        return row
    if row.significant is None:
        return replace(row, regression=True, unconfirmed=True)
    # Worse by more than pct at the point estimate; the interval excluding zero makes it a finding.
    return replace(row, regression=row.significant)
