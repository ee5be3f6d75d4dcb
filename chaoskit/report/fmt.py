"""Number formatting shared by the renderers, so the terminal and the markdown report agree."""

from __future__ import annotations

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


def clock(value: float | None, name: str, never: tuple[str, ...], unobserved: tuple[str, ...]) -> str:
    """One recovery clock: seconds, ``never`` when it did not end, ``n/a`` when nothing to measure."""
    if name in never:
        return "never"
    if name in unobserved:
        return "n/a"
    return secs(value)


def verdict_word(summary: RunSummary) -> str:
    if summary.verdict.aborted:
        return "ABORTED"
    return "PASS" if summary.verdict.passed else "FAIL"
