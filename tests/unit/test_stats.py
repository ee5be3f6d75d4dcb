"""The bootstrap intervals against distributions whose true mean is known, and their reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from chaoskit.analysis.stats import bootstrap_difference, bootstrap_mean, expanded_confidence, t_quantile

pytestmark = pytest.mark.unit
SERIES = 400
"""Simulated series per coverage check: the coverage estimate's standard error is then about 1.1 %."""


def _coverage(draw: object, true_mean: float, *, n: int) -> float:
    rng = np.random.default_rng(7)
    covered = 0
    for i in range(SERIES):
        values = draw(rng, n)  # type: ignore[operator]
        interval = bootstrap_mean(list(values), resamples=2000, seed=i)
        assert interval.low is not None and interval.high is not None
        covered += interval.low <= true_mean <= interval.high
    return covered / SERIES


def test_the_interval_covers_a_normal_mean_about_95_percent_of_the_time() -> None:
    coverage = _coverage(lambda rng, n: rng.normal(10.0, 2.0, n), 10.0, n=30)
    assert 0.91 <= coverage <= 0.98, coverage


def test_the_interval_covers_a_skewed_mean_about_95_percent_of_the_time() -> None:
    # Exponential recovery times: skewed, like real clocks; the percentile bootstrap under-covers slightly.
    coverage = _coverage(lambda rng, n: rng.exponential(3.0, n), 3.0, n=40)
    assert 0.89 <= coverage <= 0.98, coverage


def test_with_five_runs_the_expanded_interval_still_covers_about_nine_times_in_ten() -> None:
    # The plain percentile interval covers about 80 % here; the expansion (stats.py) brings it near 95 %.
    coverage = _coverage(lambda rng, n: rng.normal(10.0, 2.0, n), 10.0, n=5)
    assert 0.88 <= coverage <= 0.98, coverage


def test_t_quantiles_match_the_tables() -> None:
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(0.975, 4) == pytest.approx(2.776445, abs=1e-5)
    assert t_quantile(0.975, 30) == pytest.approx(2.042272, abs=1e-5)
    assert t_quantile(0.995, 2) == pytest.approx(9.924843, abs=1e-5)
    assert expanded_confidence(0.95, 1000) == pytest.approx(0.95, abs=0.001)
    assert expanded_confidence(0.95, 5) > 0.99


def test_the_difference_interval_covers_the_true_difference() -> None:
    rng = np.random.default_rng(11)
    covered = 0
    for i in range(SERIES):
        base, cand = rng.normal(5.0, 1.0, 30), rng.normal(5.5, 1.5, 30)
        interval = bootstrap_difference(list(base), list(cand), resamples=2000, seed=i)
        assert interval.low is not None and interval.high is not None
        covered += interval.low <= 0.5 <= interval.high
    assert 0.91 <= covered / SERIES <= 0.98


def test_the_same_values_and_seed_give_the_same_interval() -> None:
    values = [0.981, 0.99, 1.0, 0.995, 0.982]
    assert bootstrap_mean(values, seed=3) == bootstrap_mean(values, seed=3)
    spread = list(np.random.default_rng(1).normal(0, 1, 20))
    assert bootstrap_mean(spread, seed=3) != bootstrap_mean(spread, seed=4)
    interval = bootstrap_mean(values)
    assert interval.estimate == pytest.approx(np.mean(values))
    assert interval.low is not None and interval.high is not None
    assert min(values) <= interval.low < interval.estimate < interval.high <= max(values)


def test_one_value_has_no_interval_and_equal_values_a_point() -> None:
    single = bootstrap_mean([2.5])
    assert (single.estimate, single.low, single.high, single.has_interval) == (2.5, None, None, False)
    flat = bootstrap_mean([1.0, 1.0, 1.0])
    assert (flat.low, flat.high) == (1.0, 1.0)
    assert not bootstrap_difference([1.0], [2.0, 3.0]).has_interval
    assert bootstrap_difference([1.0], [2.0, 3.0]).estimate == 1.5


def test_a_clear_difference_excludes_zero_and_noise_does_not() -> None:
    clear = bootstrap_difference([1.0, 1.1, 0.9, 1.05, 0.95], [2.0, 2.1, 1.9, 2.05, 1.95])
    assert clear.excludes(0.0) and clear.low is not None and clear.low > 0.5
    noise = bootstrap_difference([1.0, 2.0, 1.5, 1.2, 1.8], [1.1, 1.9, 1.4, 1.3, 1.7])
    assert not noise.excludes(0.0)


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_mean([])
    with pytest.raises(ValueError, match="finite"):
        bootstrap_mean([1.0, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean([1.0, 2.0], confidence=1.5)
