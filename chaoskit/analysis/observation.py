"""Was recovery observed inside the run? Failures that go on to the end of the recovery phase mean the
run stopped watching before the service came back: what happened next is unseen, and no clock can say
how long recovery took.

Rule (exact): the judged phase is ``recovery`` (the last phase when none has that name). Recovery was
observed when no failed request started in the last ``quiet_s`` seconds of that phase (or after its end)
and no unavailability window was still open at the end of the run. ``None`` when no phase was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chaoskit.analysis.frames import Columns, PhaseSpan, seconds
from chaoskit.analysis.windows import FailureRuns

RECOVERY_PHASE: Final = "recovery"
DEFAULT_QUIET_S: Final = 1.0
"""How long the end of the recovery phase must be free of failures for recovery to count as observed."""


@dataclass(frozen=True)
class RecoveryObservation:
    """Whether the run saw the end of the failures, and how close to the end of recovery they went."""

    phase: str
    """The phase judged (``recovery``, or the last phase); empty when no phase was recorded."""
    quiet_s: float
    phase_end_ns: int | None
    last_failure_ns: int | None
    """Start of the last failed request of the run; None without failures."""
    last_failure_to_end_s: float | None
    """End of the phase minus that start (negative: the failure started after the phase ended)."""
    open_windows: int
    """Unavailability windows (any address) still open at the end of the run."""
    recovery_observed: bool | None
    """False when failures continued into the last ``quiet_s`` of the phase or a window stayed open."""


def observe(
    cols: Columns, runs: FailureRuns, phases: tuple[PhaseSpan, ...], *, quiet_s: float = DEFAULT_QUIET_S
) -> RecoveryObservation:
    if quiet_s < 0:
        raise ValueError(f"quiet_s must be >= 0, got {quiet_s}")
    judged = next((p for p in phases if p.name == RECOVERY_PHASE), phases[-1] if phases else None)
    last_ns = int(runs.start_ns.max()) if len(runs.rows) else None
    open_windows = int(runs.open.sum())
    if judged is None:
        return RecoveryObservation("", quiet_s, None, last_ns, None, open_windows, None)
    to_end = None if last_ns is None else judged.end_ns - last_ns
    failing_late = to_end is not None and to_end < round(quiet_s * 1e9)
    return RecoveryObservation(
        phase=judged.name,
        quiet_s=quiet_s,
        phase_end_ns=judged.end_ns,
        last_failure_ns=last_ns,
        last_failure_to_end_s=None if to_end is None else seconds(to_end),
        open_windows=open_windows,
        recovery_observed=not failing_late and open_windows == 0,
    )
