"""Which findings appeared, went away or stayed between two sets of runs (``chaoskit compare``): the before and
after of a change a team made because of a finding.

A finding is identified by its rule and the object it applies to (``shutdown-race`` on ``Deployment web``). Each
side counts the runs it appeared in and the failed requests it explained there; *gone* means it appeared in some
base run and in no candidate run, *appeared* the reverse, *still* in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chaoskit.analysis.summary import RunSummary

APPEARED: Final = "appeared"
GONE: Final = "gone"
STILL: Final = "still"


@dataclass(frozen=True)
class FindingChange:
    rule: str
    workload: str
    base_runs: int
    """Base runs the finding appeared in."""
    candidate_runs: int
    base_failures: int
    """Failed requests it explained, summed over the base runs."""
    candidate_failures: int

    @property
    def status(self) -> str:
        return APPEARED if not self.base_runs else GONE if not self.candidate_runs else STILL


def finding_changes(base: Sequence[RunSummary], candidate: Sequence[RunSummary]) -> tuple[FindingChange, ...]:
    """Every finding of either side, gone ones first, then appeared, then still there; by rule within each."""
    b_seen, c_seen = _tally(base), _tally(candidate)
    changes = []
    for key in sorted({*b_seen, *c_seen}):
        (b_runs, b_failures), (c_runs, c_failures) = b_seen.get(key, (0, 0)), c_seen.get(key, (0, 0))
        changes.append(FindingChange(*key, b_runs, c_runs, b_failures, c_failures))
    order = {GONE: 0, APPEARED: 1, STILL: 2}
    return tuple(sorted(changes, key=lambda c: (order[c.status], c.rule, c.workload)))


def _tally(runs: Sequence[RunSummary]) -> dict[tuple[str, str], tuple[int, int]]:
    """(rule, workload) -> (runs it appeared in, failed requests it explained in them)."""
    tally: dict[tuple[str, str], tuple[int, int]] = {}
    for summary in runs:
        for key, failures in {(f.rule, f.workload): f.evidence.failures for f in summary.findings}.items():
            seen, total = tally.get(key, (0, 0))
            tally[key] = (seen + 1, total + failures)
    return tally
