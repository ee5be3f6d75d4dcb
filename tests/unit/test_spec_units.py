"""Parse tables for durations and percents: what the spec accepts and what it rejects."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from chaoskit.experiment.units import Duration, Percent, parse_duration, parse_percent

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("2s", 2.0),
        ("1.5m", 90.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1h0m5s", 3605.0),
        (" 10s ", 10.0),
        ("0s", 0.0),
        (".5s", 0.5),
        ("3", 3.0),
        (3, 3.0),
        (2.5, 2.5),
        (0, 0.0),
    ],
)
def test_duration_parses(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5x", "s", "", "ms5", "1 day", "2s-1s", "1e3s", "5 sec"])
def test_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", ["-2s", -1, -0.001, float("inf"), float("nan"), True, None, [1]])
def test_duration_rejects_negative_non_finite_and_non_numbers(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("text", "ratio"),
    [("99.9%", 0.999), ("100%", 1.0), ("0%", 0.0), (" 50 % ", 0.5), (0.999, 0.999), (1, 1.0), (0, 0.0)],
)
def test_percent_parses(text: str | float, ratio: float) -> None:
    assert parse_percent(text) == pytest.approx(ratio)


@pytest.mark.parametrize("value", ["99.9", "abc%", "%", "101%", "-1%", 99.9, 1.01, -0.1, True, None])
def test_percent_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="percent"):
        parse_percent(value)


class _Holder(BaseModel):
    duration: Duration
    percent: Percent


def test_annotated_types_store_plain_floats() -> None:
    held = _Holder.model_validate({"duration": "1m30s", "percent": "99%"})
    assert (held.duration, held.percent) == (90.0, pytest.approx(0.99))
    assert type(held.duration) is float


def test_annotated_type_errors_carry_a_hint() -> None:
    with pytest.raises(ValidationError) as info:
        _Holder.model_validate({"duration": "soon", "percent": "lots"})
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [("duration",), ("percent",)]
    assert all("hint" in (e.get("ctx") or {}) for e in errors)
