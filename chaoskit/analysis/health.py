"""Load-agent health: did the client keep its schedule? A late client must not be blamed on the service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from chaoskit.analysis.frames import Columns, millis, ratio

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


def agent_health(cols: Columns, agent: Mapping[str, object] | None, *, not_sent: int = 0,
                 planned: int | None = None) -> AgentHealth:
    lag = cols.start_ns - cols.scheduled_ns
    n = len(lag)
    late = int((lag > LATE_NS).sum())
    most = int(lag.max()) if n else None
    p50, p99 = np.percentile(lag, (50.0, 99.0), overwrite_input=True) if n else (None, None)  # reorders lag
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
