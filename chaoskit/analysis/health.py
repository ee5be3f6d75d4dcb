"""Load-agent health: did the client keep its schedule? A late client must not be blamed on the service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np

from chaoskit.analysis.frames import Column, IntArray, millis, ratio, row_chunks
from chaoskit.analysis.quantiles import percentiles, spread

LATE_NS: Final = 10_000_000
"""A request is a late start when it began more than 10 ms after its schedule (as the agent counts)."""
SATURATED_P99_LAG_NS: Final = 20_000_000
"""p99 start lag above 20 ms means the client, not the service, set the pace."""
SATURATED_CPU: Final = 0.9


@dataclass(frozen=True)
class AgentHealth:
    requests: int
    late_starts: int
    late_ratio: float | None
    lag_p50_ms: float | None
    lag_p99_ms: float | None
    lag_max_ms: float | None
    cpu_utilisation: float | None
    """Agent CPU seconds per wall second, when the agent reported it."""
    exit_code: int | None
    saturated: bool
    """The agent said so, or p99 lag > 20 ms, or CPU > 90 %: latency and failures may be the client's."""
    not_sent: int = 0
    """Scheduled requests the agent never sent (``agent_saturated``: its in-flight cap was reached). They are
    the client's failures, so they are left out of availability, windows and latency."""
    planned: int | None = None
    """Requests the load plans scheduled (None when unknown, e.g. a run saved by an older chaoskit)."""


class Clocks(Protocol):
    """Each request's scheduled and actual start (:class:`frames.Columns` has them)."""

    @property
    def scheduled_ns(self) -> Column[np.int64]: ...

    @property
    def start_ns(self) -> Column[np.int64]: ...


def agent_health(clocks: Clocks, agent: Mapping[str, object] | None, *, not_sent: int = 0,
                 planned: int | None = None) -> AgentHealth:
    """Start lag (start minus schedule) taken a chunk of rows at a time: no full-length lag array."""
    rows = len(clocks.start_ns)

    def lag(chunk: slice) -> IntArray:
        values: IntArray = clocks.start_ns[chunk] - clocks.scheduled_ns[chunk]
        return values

    seen = spread(lag, rows)
    n, most = seen.count, seen.high
    late = sum(int(np.count_nonzero(lag(chunk) > LATE_NS)) for chunk in row_chunks(rows))
    p50, p99 = percentiles(lag, rows, (50.0, 99.0), seen=seen) or (None, None)
    reported = dict(agent or {})
    cpu = _number(reported.get("cpu_utilisation"))
    exit_code = reported.get("exit_code")
    saturated = (
        bool(reported.get("saturated", False))
        or (p99 is not None and p99 > SATURATED_P99_LAG_NS)
        or (cpu is not None and cpu > SATURATED_CPU)
    )
    return AgentHealth(
        requests=n,
        late_starts=late,
        late_ratio=ratio(late, n),
        lag_p50_ms=None if p50 is None else millis(p50),
        lag_p99_ms=None if p99 is None else millis(p99),
        lag_max_ms=None if most is None else millis(most),
        cpu_utilisation=None if cpu is None else round(cpu, 3),
        exit_code=exit_code if isinstance(exit_code, int) else None,
        saturated=bool(saturated),
        not_sent=not_sent,
        planned=planned,
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
