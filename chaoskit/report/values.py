"""Metric values formatted by unit, shared by the repeat and compare reports (terminal, Markdown, HTML)."""

from __future__ import annotations

import math

from chaoskit.analysis.repeats import METRICS
from chaoskit.analysis.stats import FEW, Interval
from chaoskit.report.fmt import DASH


def unit_of(metric: str) -> str:
    spec = METRICS.get(metric)
    return spec.unit if spec else ""


def title_of(metric: str) -> str:
    spec = METRICS.get(metric)
    return spec.title if spec else metric


def value(metric: str, v: float | None) -> str:
    """One value in the metric's unit: a percentage, seconds or milliseconds."""
    if v is None:
        return DASH
    unit = unit_of(metric)
    if unit == "ratio":
        return f"{v * 100:.3f}%"
    if unit == "ms":
        return f"{v:.1f} ms"
    return f"{v:.3f} s"


def delta(metric: str, v: float | None) -> str:
    """A difference in the metric's unit, signed (percentage points for a ratio)."""
    if v is None:
        return DASH
    unit = unit_of(metric)
    if unit == "ratio":
        return f"{v * 100:+.3f} pp"
    if unit == "ms":
        return f"{v:+.1f} ms"
    return f"{v:+.3f} s"


def interval(metric: str, i: Interval | None, *, signed: bool = False) -> str:
    """``[low, high]`` in the metric's unit; says why when there is none."""
    if i is None:
        return DASH
    if not i.has_interval:
        return "no interval (1 run)"
    show = delta if signed else value
    approx = " ≈" if i.n < FEW else ""
    return f"[{show(metric, i.low)}, {show(metric, i.high)}]{approx}"


def change(pct: float | None) -> str:
    if pct is None:
        return DASH
    if math.isinf(pct):
        return "new (base 0)" if pct > 0 else "gone (base 0)"
    return f"{pct:+.1f}%"


def label(metric: str, scope: str) -> str:
    return f"{title_of(metric)} · {scope}"
