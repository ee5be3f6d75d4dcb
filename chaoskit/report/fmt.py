"""Number formatting shared by the renderers, so the terminal and the markdown report agree."""

from __future__ import annotations

from chaoskit.analysis.recovery import FaultRecovery
from chaoskit.analysis.summary import RunSummary

DASH = "\N{EN DASH}"
"""Shown where there is no value."""


def pct(ratio: float | None, *, failed: int = 0) -> str:
    """A ratio as a percentage; never shows 100% when something failed."""
    if ratio is None:
        return DASH
    text = f"{ratio * 100:.3f}%"
    return ">99.999%" if failed and text == "100.000%" else text


def secs(value: float | None, *, missing: str = DASH) -> str:
    return missing if value is None else f"{value:.3f} s"


def ms(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def offset(summary: RunSummary, ts_ns: int) -> str:
    """A wall-clock instant as seconds since the run's first phase began (``t+12.345 s``)."""
    origin = summary.phases[0].begin_ns if summary.phases else ts_ns
    return f"t{(ts_ns - origin) / 1e9:+.3f} s"


NO_FAILURE = "none"
"""A request clock of a fault that caused no failure: nothing had to recover."""


def clock(value: float | None, name: str, never: tuple[str, ...], unobserved: tuple[str, ...]) -> str:
    """One recovery clock: seconds, ``never`` when it did not end, ``n/a`` when nothing to measure,
    ``none`` for a request clock without a failure to recover from."""
    if name in never:
        return "never"
    if name in unobserved:
        return "n/a"
    return secs(value, missing=NO_FAILURE)


def clocks(fault: FaultRecovery) -> list[str]:
    """Every clock of one fault, in :data:`CLOCKS` order, formatted."""
    never, unseen = fault.never_recovered, fault.unobserved
    return [clock(value, name, never, unseen) for name, value in fault.clocks().items()]


CLOCK_TITLES = ("Replacement scheduled", "Replacement ready", "Endpoints converged", "Last failure",
                "Traffic recovered")  # fmt: skip
"""Column titles of :func:`clocks`, in the same order."""


def observation_line(summary: RunSummary) -> str | None:
    """The sentence about failures that went on to the end of recovery, or None when all is well."""
    o = summary.recovery_observation
    if o.recovery_observed is not False:
        return None
    if o.last_failure_to_end_s is not None and o.last_failure_to_end_s < o.quiet_s:
        return (f"failures continued into the last {o.quiet_s:g} s of {o.phase}: recovery not observed "
                f"(the last failed request started {o.last_failure_to_end_s:.3f} s before its end)")
    return (f"failures continued to the end of the run ({o.open_windows} unavailability window(s) never "
            "closed): recovery not observed")


def verdict_word(summary: RunSummary) -> str:
    """PASS, FAIL, INCONCLUSIVE or ABORTED."""
    return str(summary.verdict.outcome)
