"""The load agent's account of itself (CPU, lag, saturation), built from its ``done`` message and records.

Shared by the agent process on this host (``chaoskit.load.agent``) and the in-cluster agent Job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from chaoskit.load.plan import LoadPlan

_LATE_NS: Final = 10_000_000


class AgentError(Exception):
    """The load agent failed to start, died, or broke its record stream (infrastructure failure)."""

    def __init__(self, message: str, *, output_tail: str = "") -> None:
        super().__init__(f"{message}\n--- agent output (tail) ---\n{output_tail}" if output_tail
                         else message)
        self.output_tail = output_tail


@dataclass(frozen=True)
class AgentReport:
    """How the agent itself fared; ``saturated`` means its measurements of lag/latency are suspect."""

    requests: int
    cpu_seconds: float
    """Agent CPU (user + system) over the load window, excluding interpreter and Locust start-up."""
    wall_seconds: float
    cpu_utilisation: float
    """cpu_seconds / wall_seconds; the agent is single-threaded, so 1.0 is one full core."""
    late_starts: int
    """Requests that started more than 10 ms after their scheduled instant."""
    max_lag_ms: float
    saturated: bool
    """cpu_utilisation > 0.9, p99 lag > 20 ms, or any request refused by the in-flight cap."""
    exit_code: int
    p99_lag_ms: float = 0.0
    agent_saturated: int = 0
    """Requests recorded as ``agent_saturated`` (in-flight cap reached)."""
    connections: int = 0
    """TCP connections the agent attempted (all targets): one per request with ``new-connection``."""
    cpu_wait_seconds: float = 0.0
    """Time the agent was runnable but waited for a CPU (/proc schedstat): lag with high wait and
    low utilisation means the host was busy with other work, not that the agent hit its limit."""


def build_report(plan: LoadPlan, done: dict[str, Any] | None, exit_code: int, *, lags: Sequence[np.ndarray],
                 received: int, output_tail: Callable[[], str]) -> AgentReport:
    """Check the agent's ``done`` summary against what arrived and turn it into a report."""
    if done is None or exit_code != 0:
        failures = "; ".join(done.get("failures", [])) if done else "no summary"
        raise AgentError(f"load agent exited with code {exit_code} ({failures})", output_tail=output_tail())
    if plan.records and received != done["requests"]:
        raise AgentError(f"record stream lost records: agent made {done['requests']}, received {received}")
    late, max_lag, p99 = _lag_stats(plan, done, lags)
    cpu, wall = float(done["cpu_seconds"]), float(done["wall_seconds"])
    util = cpu / wall if wall > 0 else 0.0
    return AgentReport(
        requests=int(done["requests"]), cpu_seconds=cpu, wall_seconds=wall,
        cpu_utilisation=util, late_starts=late, max_lag_ms=max_lag,
        saturated=util > 0.9 or p99 > 20.0 or done["agent_saturated"] > 0,
        exit_code=exit_code, p99_lag_ms=p99, agent_saturated=int(done["agent_saturated"]),
        cpu_wait_seconds=float(done["cpu_wait_seconds"]), connections=int(done["connections"]))


def _lag_stats(plan: LoadPlan, done: dict[str, Any], lags: Sequence[np.ndarray]) -> tuple[int, float, float]:
    """From the records when they were kept (the source of truth), else from the agent summary."""
    if not plan.records or not lags:
        return int(done["late_starts"]), float(done["max_lag_ms"]), float(done["p99_lag_ms"])
    merged = np.concatenate(lags)
    p99 = float(np.quantile(merged, 0.99, method="lower"))
    return (int((merged > _LATE_NS).sum()), max(0.0, float(merged.max()) / 1e6), max(0.0, p99 / 1e6))


def merge_reports(reports: Sequence[AgentReport]) -> AgentReport:
    """One account for several agents (e.g. this host's and an in-cluster Job's): counts add up,
    utilisation and lags are the worst agent's (each agent is single-threaded), saturated if any is."""
    if len(reports) == 1:
        return reports[0]
    return AgentReport(
        requests=sum(r.requests for r in reports), cpu_seconds=sum(r.cpu_seconds for r in reports),
        wall_seconds=max(r.wall_seconds for r in reports),
        cpu_utilisation=max(r.cpu_utilisation for r in reports),
        late_starts=sum(r.late_starts for r in reports), max_lag_ms=max(r.max_lag_ms for r in reports),
        saturated=any(r.saturated for r in reports),
        exit_code=next((r.exit_code for r in reports if r.exit_code), 0),
        p99_lag_ms=max(r.p99_lag_ms for r in reports),
        agent_saturated=sum(r.agent_saturated for r in reports),
        connections=sum(r.connections for r in reports),
        cpu_wait_seconds=sum(r.cpu_wait_seconds for r in reports))
