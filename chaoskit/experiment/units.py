"""Typed units of an experiment spec: durations ("500ms", "1m30s") in seconds and percents ("99.9%") as ratios.

Values are parsed once, at validation; everything downstream sees plain floats. Every duration is at most
``MAX_DURATION_S`` (24 h): phase boundaries and fault instants are nanosecond integers, and a longer value
would only ever be a typo (or an attempt to overflow them).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART: Final = r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)"
_DURATION_RE: Final = re.compile(rf"^(?:{_PART})+$")
_PART_RE: Final = re.compile(_PART)
_NUMBER_RE: Final = re.compile(r"^[+-]?(\d+(?:\.\d*)?|\.\d+)$")
MAX_DURATION_S: Final = 24 * 3600.0
"""The longest duration any field accepts (a phase of a day is already far beyond a resilience experiment)."""
DURATION_HINT: Final = 'write a number of seconds or a string like "500ms", "2s", "1.5m", "1h", "1m30s"'
PERCENT_HINT: Final = 'write "99.9%" or the ratio 0.999 (a bare number must be between 0 and 1)'


def _error(kind: str, message: str, *, value: object, hint: str) -> PydanticCustomError:
    # The hint travels in ctx so the loader can print it under the located message; a value of thousands
    # of digits is shortened so the message stays one line.
    shown = str(value)
    shown = shown if len(shown) <= 40 else f"{shown[:20]}...{shown[-8:]} ({len(shown)} characters)"
    return PydanticCustomError(kind, message, {"value": shown, "hint": hint})


def parse_duration(value: Any) -> float:
    """Return ``value`` as seconds (float >= 0); accepts numbers and strings like "2s" or "1m30s"."""
    if isinstance(value, bool):
        raise _error("duration", "expected a duration, got a boolean", value=value, hint=DURATION_HINT)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value)
    else:
        raise _error("duration", f"expected a duration, got {type(value).__name__}", value=value, hint=DURATION_HINT)
    if not math.isfinite(seconds) or seconds < 0:
        raise _error("duration", "duration must be a finite number >= 0, got {value}", value=value, hint=DURATION_HINT)
    if seconds > MAX_DURATION_S:
        raise _error("duration_too_long", "duration {value} is longer than 24h, the limit of every duration",
                     value=value, hint="a resilience experiment needs minutes: check the unit (ms, s, m, h)")
    return seconds


def _parse_duration_text(text: str) -> float:
    compact = text.strip().replace(" ", "")
    if _NUMBER_RE.match(compact):
        return float(compact)
    if not _DURATION_RE.match(compact):
        raise _error("duration", 'invalid duration "{value}"', value=text, hint=DURATION_HINT)
    return sum(float(num) * _UNIT_SECONDS[unit] for num, unit in _PART_RE.findall(compact))


def parse_percent(value: Any) -> float:
    """Return ``value`` as a ratio in [0, 1]; accepts "99.9%" or a number between 0 and 1."""
    if isinstance(value, bool):
        raise _error("percent", "expected a percent, got a boolean", value=value, hint=PERCENT_HINT)
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%") or not _NUMBER_RE.match(text[:-1].strip()):
            raise _error("percent", 'invalid percent "{value}"', value=value, hint=PERCENT_HINT)
        ratio = float(text[:-1]) / 100.0
    elif isinstance(value, int | float):
        ratio = float(value)
    else:
        raise _error("percent", f"expected a percent, got {type(value).__name__}", value=value, hint=PERCENT_HINT)
    if not 0.0 <= ratio <= 1.0:
        raise _error("percent", "percent out of range: {value} (must be 0%..100%)", value=value, hint=PERCENT_HINT)
    return ratio


_DURATION_SCHEMA: Final = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": MAX_DURATION_S, "description": "seconds (at most 24 h)"},
        {"type": "string", "pattern": r"^\s*((\d+(\.\d*)?|\.\d+)(ms|s|m|h)\s*)+$|^\s*\d+(\.\d*)?\s*$"},
    ],
    "examples": ["500ms", "2s", "1.5m", "1h", 30],
}
_PERCENT_SCHEMA: Final = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 1, "description": "ratio"},
        {"type": "string", "pattern": r"^\s*(\d+(\.\d*)?|\.\d+)\s*%\s*$"},
    ],
    "examples": ["99.9%", 0.999],
}

Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)]
"""Seconds as float >= 0; YAML may say 500ms / 2s / 1.5m / 1h / 1m30s or a number of seconds."""

PositiveDuration = Annotated[Duration, Field(gt=0)]
"""A Duration that must be > 0 (phase lengths, timeouts)."""

Percent = Annotated[float, BeforeValidator(parse_percent), WithJsonSchema(_PERCENT_SCHEMA)]
"""A ratio in [0, 1]; YAML may say "99.9%" or 0.999."""
