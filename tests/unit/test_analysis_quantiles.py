"""Chunked exact percentiles give np.percentile's floats to the bit, however the values are spread."""

from __future__ import annotations

import numpy as np
import pytest

from chaoskit.analysis import frames, quantiles
from chaoskit.analysis.quantiles import order_statistics, percentiles, spread

pytestmark = pytest.mark.unit

QS = (0.0, 1.0, 50.0, 95.0, 99.0, 99.9, 100.0)


def _take(values: np.ndarray, mask: np.ndarray | None = None) -> quantiles.Take:
    def take(rows: slice) -> np.ndarray:
        part = values[rows]
        return part if mask is None else part[mask[rows]]

    return take


def _samples(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3_000))
    kind = seed % 5
    if kind == 0:  # latencies: a lognormal body and a few 2 s timeouts
        body = rng.lognormal(13, 0.6, n).astype(np.int64)
        body[rng.random(n) < 0.01] = 2_000_000_000
        return body
    if kind == 1:  # ties everywhere
        return rng.integers(0, 4, n) * 1_000_000
    if kind == 2:  # one value
        return np.full(n, 123_456, dtype=np.int64)
    if kind == 3:  # start lags: negative and positive, wide
        return rng.integers(-5_000_000, 3_000_000_000, n)
    return rng.integers(-(1 << 62), 1 << 62, n)  # the widest ranges


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buckets, held values and chunks small enough that a few thousand values recurse several levels."""
    monkeypatch.setattr(quantiles, "BUCKETS", 4)
    monkeypatch.setattr(quantiles, "HELD", 5)
    monkeypatch.setattr(frames, "chunk_rows", 7)


@pytest.mark.parametrize("seed", range(25))
def test_percentiles_equal_numpys_bit_for_bit(seed: int, tiny: None) -> None:
    values = _samples(seed)
    expected = np.percentile(values, QS)
    got = percentiles(_take(values), len(values), QS)
    assert got is not None
    assert [float(x).hex() for x in got] == [float(x).hex() for x in expected]


@pytest.mark.parametrize("seed", range(10))
def test_a_mask_selects_the_values_and_one_q_equals_numpys_scalar_form(seed: int, tiny: None) -> None:
    rng = np.random.default_rng(100 + seed)
    values = rng.lognormal(12, 1.0, 2_000).astype(np.int64)
    mask = rng.random(len(values)) < 0.3
    got = percentiles(_take(values, mask), len(values), (99.0,))
    assert got == [float(np.percentile(values[mask], 99.0))]


def test_order_statistics_are_the_sorted_values(tiny: None) -> None:
    values = np.random.default_rng(7).integers(0, 50, 1_000)
    ranks = [0, 1, 499, 500, 998, 999]
    ordered = np.sort(values)
    assert order_statistics(_take(values), len(values), ranks) == {r: int(ordered[r]) for r in ranks}


def test_no_values_give_none_and_spread_counts_them(tiny: None) -> None:
    values = np.arange(30, dtype=np.int64)
    nothing = np.zeros(30, dtype=bool)
    assert percentiles(_take(values, nothing), 30, QS) is None
    assert spread(_take(values), 30) == quantiles.Spread(30, 0, 29)
    with pytest.raises(ValueError, match="outside"):
        order_statistics(_take(values), 30, [30])


def test_at_the_real_sizes_a_concentrated_million_recurses_and_still_matches() -> None:
    """A million latencies within a few microseconds: one bucket of the first histogram holds more than HELD."""
    rng = np.random.default_rng(11)
    values = 500_000 + rng.integers(0, 3_000, 1_000_000)
    values[::1000] = 2_000_000_000
    got = percentiles(_take(values), len(values), QS)
    assert got == [float(x) for x in np.percentile(values, QS)]
