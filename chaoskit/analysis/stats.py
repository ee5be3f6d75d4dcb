"""Statistics over repeated runs: a mean with a seeded percentile-bootstrap confidence interval, and the same
for the difference of two means (candidate minus base).

Why the bootstrap: the per-run values (availability, the longest window, a recovery clock) are bounded, skewed
and few, so no distribution is assumed. Why seeded: the same runs give the same interval, so a report re-rendered
tomorrow, or a CI gate run twice, says the same thing.

Why *expanded* percentiles (Hesterberg, "What teachers should know about the bootstrap", 2015): the plain
percentile interval is too narrow for few values (with 5 runs it covers the true mean about 80 % of the time
instead of 95 %), because the resamples' spread under-states the spread by sqrt((n-1)/n) and ignores that it is
itself estimated. The expanded interval takes the percentiles at the tail probability whose normal quantile is
sqrt(n/(n-1)) times Student's t quantile with n-1 degrees of freedom; for many values it is the plain one.
tests/unit/test_stats.py checks the coverage on known distributions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

import numpy as np
import numpy.typing as npt

CONFIDENCE: Final = 0.95
RESAMPLES: Final = 10_000
SEED: Final = 20_240_613
"""The bootstrap's default seed: fixed, so an interval is reproducible from the same values."""
FEW: Final = 10
"""Below this many values an interval is labelled approximate."""


@dataclass(frozen=True)
class Interval:
    """An estimate (a mean, or a difference of means) and its confidence interval.

    ``low``/``high`` are None when no interval can be computed (fewer than two values on a side)."""

    estimate: float
    low: float | None
    high: float | None
    n: int
    """Values behind the estimate (for a difference: the smaller side)."""
    confidence: float = CONFIDENCE

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def excludes(self, value: float) -> bool:
        """True when the whole interval lies on one side of ``value`` (False without an interval)."""
        if self.low is None or self.high is None:
            return False
        return value < self.low or value > self.high


def bootstrap_mean(
    values: Sequence[float], *, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = SEED
) -> Interval:
    """The mean of ``values`` and its percentile-bootstrap interval (none with a single value)."""
    data = _array(values)
    if len(data) == 0:
        raise ValueError("bootstrap_mean needs at least one value")
    estimate = float(data.mean())
    if len(data) < 2:
        return Interval(estimate, None, None, len(data), confidence)
    rng = np.random.default_rng(seed)
    means = _resampled_means(rng, data, resamples)
    low, high = _percentiles(means, expanded_confidence(confidence, len(data)))
    return Interval(estimate, low, high, len(data), confidence)


def bootstrap_difference(
    base: Sequence[float], candidate: Sequence[float], *, confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES, seed: int = SEED,
) -> Interval:
    """``mean(candidate) - mean(base)`` and its interval, each side resampled on its own (independent runs).

    No interval unless both sides have two values or more: one run has no spread to resample, and resampling
    only the other side would claim a precision the data does not have."""
    b, c = _array(base), _array(candidate)
    if len(b) == 0 or len(c) == 0:
        raise ValueError("bootstrap_difference needs at least one value on each side")
    estimate = float(c.mean() - b.mean())
    n = min(len(b), len(c))
    if n < 2:
        return Interval(estimate, None, None, n, confidence)
    rng = np.random.default_rng(seed)
    diffs = _resampled_means(rng, c, resamples) - _resampled_means(rng, b, resamples)
    low, high = _percentiles(diffs, expanded_confidence(confidence, n))
    return Interval(estimate, low, high, n, confidence)


def expanded_confidence(confidence: float, n: int) -> float:
    """The percentile level that makes a percentile interval of ``n`` values an expanded one (see above)."""
    _check_confidence(confidence)
    t = t_quantile(0.5 + confidence / 2, n - 1)
    z = math.sqrt(n / (n - 1)) * t
    return 2 * NormalDist().cdf(z) - 1


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (0.5 <= p < 1) for ``df`` >= 1 degrees of freedom, to about 1e-6.

    With x = sqrt(df) tan(theta) the t density becomes proportional to cos(theta)^(df - 1) on [0, pi/2), so the
    quantile is where the normalised integral of that (a smooth, bounded function) reaches 2p - 1."""
    if not 0.5 <= p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1 and df >= 1 (got p={p}, df={df})")
    theta = np.linspace(0.0, math.pi / 2, 200_001)
    density = np.cos(theta) ** (df - 1)
    area = np.concatenate(([0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(theta))))
    at = float(np.interp((2 * p - 1) * area[-1], area, theta))
    return math.sqrt(df) * math.tan(at)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} is not between 0 and 1")


def _array(values: Sequence[float]) -> npt.NDArray[np.float64]:
    data = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        raise ValueError("bootstrap values must be finite numbers")
    return data


def _resampled_means(rng: np.random.Generator, data: npt.NDArray[np.float64], resamples: int) -> npt.NDArray[
        np.float64]:
    picks = rng.integers(0, len(data), size=(resamples, len(data)))
    means: npt.NDArray[np.float64] = data[picks].mean(axis=1)
    return means


def _percentiles(samples: npt.NDArray[np.float64], confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2
    low, high = np.quantile(samples, (tail, 1 - tail))
    return float(low), float(high)
