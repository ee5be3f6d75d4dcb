"""The load agents' account of themselves: per worker (planned vs recorded, CPU, start lag, saturation, clock)
and for the whole load, with ``delivered`` and the ``problems`` that make it not delivered.

Built from what chaoskit itself counted on each worker's record stream (the source of truth) and the worker's
``done`` summary (CPU, connections). Shared by the agents on this host and the in-cluster agents. A worker
that died or stopped early does not raise: its requests that never ran make the load *not delivered*, said
in ``problems`` (never a silently lighter load). ``AgentError`` stays for what leaves nothing to report
(an agent that cannot start) and for a corrupt record stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

from chaoskit.load.plan import LoadPlan, Share

SATURATED_CPU: Final = 0.9
SATURATED_P99_LAG_MS: Final = 20.0
HEADROOM: Final = 0.7
"""Workers needed are sized to run at this CPU utilisation, so their start lag stays low."""


class AgentError(Exception):
    """The load agent failed to start, died, or broke its record stream (infrastructure failure)."""

    def __init__(self, message: str, *, output_tail: str = "") -> None:
        super().__init__(f"{message}\n--- agent output (tail) ---\n{output_tail}" if output_tail
                         else message)
        self.output_tail = output_tail


class AgentImageError(AgentError):
    """The in-cluster agent's image cannot run the agent (no Locust in it): bad input, not infrastructure."""

    def __init__(self, message: str, *, hint: str, output_tail: str = "") -> None:
        super().__init__(message, output_tail=output_tail)
        self.hint = hint


@dataclass(frozen=True)
class LagStats:
    """Start lag (start - scheduled) of the records one worker delivered, as chaoskit counted them."""

    late_starts: int = 0
    """Requests that started more than 10 ms after their scheduled instant."""
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0


@dataclass(frozen=True)
class WorkerReport:
    """One worker process (or pod): what it was to do, what reached chaoskit, and how it fared."""

    worker: str
    """``local/0``, ``in-cluster/1``...: where it ran and its share index (the records' ``worker`` column)."""
    planned: int
    """Requests in its share of the schedule."""
    recorded: int
    """Records chaoskit received from it."""
    planned_rate: float
    """Its share's requests per second (all its targets)."""
    delivered_rate: float
    """Requests it actually sent (recorded, minus ``agent_saturated``) per second of the plan's duration."""
    lag: LagStats
    finished: bool
    """It ran its whole share and said so (its ``done`` summary, exit code 0)."""
    exit_code: int | None
    cpu_utilisation: float | None = None
    """CPU seconds per wall second over its load (one core = 1.0); None when it never reported."""
    cpu_seconds: float | None = None
    wall_seconds: float | None = None
    cpu_wait_seconds: float | None = None
    agent_saturated: int = 0
    connections: int = 0
    saturated: bool = False
    """CPU > 90 %, p99 start lag > 20 ms, or any request refused by the in-flight cap."""
    clock_offset_ms: float = 0.0
    """Its clock minus the run's, as measured (0 on this host: one clock); records were corrected by it."""
    clock_uncertainty_ms: float = 0.0
    """Half the best round trip of the measurement: the offset is known to within ±this."""
    where: str = ""
    """pid or pod name."""
    problem: str = ""
    """Why its load was not delivered; empty when it was."""


@dataclass(frozen=True)
class AgentReport:
    """How the agents fared; ``saturated`` means lag/latency are suspect, not ``delivered`` that load is missing."""

    requests: int
    cpu_seconds: float
    """Agent CPU (user + system) over the load window, excluding interpreter and Locust start-up."""
    wall_seconds: float
    cpu_utilisation: float
    """The busiest worker's cpu_seconds / wall_seconds (each is single-threaded: 1.0 is one full core)."""
    late_starts: int
    """Requests that started more than 10 ms after their scheduled instant."""
    max_lag_ms: float
    saturated: bool
    """Any worker saturated (CPU > 90 %, p99 lag > 20 ms, or requests refused by the in-flight cap)."""
    exit_code: int
    p99_lag_ms: float = 0.0
    agent_saturated: int = 0
    """Requests recorded as ``agent_saturated`` (in-flight cap reached)."""
    connections: int = 0
    """TCP connections the agents attempted (all targets): one per request with ``new-connection``."""
    cpu_wait_seconds: float = 0.0
    """Time the agents were runnable but waited for a CPU (/proc schedstat): lag with high wait and
    low utilisation means the host was busy with other work, not that the agent hit its limit."""
    planned: int = 0
    """Requests the plans scheduled (all workers, all targets)."""
    delivered: bool = True
    """Every worker ran its whole share and every scheduled request was recorded. False: the load offered
    was lighter than planned (see ``problems``), so availability cannot be judged: the run is inconclusive."""
    problems: tuple[str, ...] = ()
    """Why the load was not delivered, one sentence per worker."""
    workers: tuple[WorkerReport, ...] = ()
    workers_needed: int | None = None
    """When saturated: how many workers the plan needs at HEADROOM CPU, from the measured CPU per request."""


@dataclass
class WorkerTally:
    """What chaoskit counted on one worker's stream, and what it learnt about the worker, as the run goes."""

    worker: str
    share: Share
    where: str = ""
    recorded: int = 0
    lag: LagStats = field(default_factory=LagStats)
    clock_offset_ms: float = 0.0
    clock_uncertainty_ms: float = 0.0


def worker_report(plan: LoadPlan, tally: WorkerTally, done: dict[str, Any] | None,
                  exit_code: int | None) -> WorkerReport:
    """Judge one worker: finished (done, exit 0, every planned request recorded) or why not."""
    planned = plan.planned_requests(tally.share)
    finished = done is not None and exit_code == 0 and not done.get("stopped") and not done.get("failures")
    reported = done or {}
    # Records discarded in the agent (benchmarks only): its own count and lag summary are all there is.
    recorded = tally.recorded if plan.records else int(reported.get("requests", 0))
    lag = tally.lag if plan.records else LagStats(
        late_starts=int(reported.get("late_starts", 0)), p99_ms=float(reported.get("p99_lag_ms", 0.0)),
        max_ms=float(reported.get("max_lag_ms", 0.0)))
    saturated_count = int(reported.get("agent_saturated", 0))
    sent = max(0, recorded - saturated_count)
    cpu, wall = _number(reported.get("cpu_seconds")), _number(reported.get("wall_seconds"))
    util = cpu / wall if cpu is not None and wall else None
    report = WorkerReport(
        worker=tally.worker, planned=planned, recorded=recorded,
        planned_rate=round(planned / plan.duration_s, 3), delivered_rate=round(sent / plan.duration_s, 3),
        lag=lag, finished=finished, exit_code=exit_code,
        cpu_utilisation=None if util is None else round(util, 3), cpu_seconds=cpu, wall_seconds=wall,
        cpu_wait_seconds=_number(reported.get("cpu_wait_seconds")), agent_saturated=saturated_count,
        connections=int(reported.get("connections", 0)),
        saturated=(util or 0.0) > SATURATED_CPU or lag.p99_ms > SATURATED_P99_LAG_MS or saturated_count > 0,
        clock_offset_ms=tally.clock_offset_ms, clock_uncertainty_ms=tally.clock_uncertainty_ms, where=tally.where)
    return replace(report, problem=_problem(plan, report, reported))


def _problem(plan: LoadPlan, w: WorkerReport, done: dict[str, Any]) -> str:
    if w.finished and w.recorded == w.planned:
        return ""
    who = f"worker {w.worker}" + (f" ({w.where})" if w.where else "")
    code = w.exit_code
    how = ("was stopped" if done.get("stopped") else
           f"failed: {'; '.join(done['failures'])}" if done.get("failures") else
           f"died (signal {-code})" if code is not None and code < 0 else
           f"exited with code {code}" if code else
           "never reported its end" if code is None else
           "exited without finishing" if not done else "recorded fewer requests than its share")
    return (f"{who} {how}: {w.recorded:,} of its {w.planned:,} requests recorded; "
            "the load offered was not the load planned")


def combine(plan_rate_total: float, workers: Sequence[WorkerReport], *, planned: int,
            extra_problems: Sequence[str] = ()) -> AgentReport:
    """One account of several workers: counts add up, utilisation and lags are the worst worker's."""
    problems = (*extra_problems, *(w.problem for w in workers if w.problem))
    saturated = any(w.saturated for w in workers)
    utils = [w.cpu_utilisation for w in workers if w.cpu_utilisation is not None]
    return AgentReport(
        requests=sum(w.recorded for w in workers), cpu_seconds=sum(w.cpu_seconds or 0.0 for w in workers),
        wall_seconds=max((w.wall_seconds or 0.0 for w in workers), default=0.0),
        cpu_utilisation=max(utils, default=0.0), late_starts=sum(w.lag.late_starts for w in workers),
        max_lag_ms=max((w.lag.max_ms for w in workers), default=0.0), saturated=saturated,
        exit_code=next((w.exit_code for w in workers if w.exit_code), 0) or 0,
        p99_lag_ms=max((w.lag.p99_ms for w in workers), default=0.0),
        agent_saturated=sum(w.agent_saturated for w in workers), connections=sum(w.connections for w in workers),
        cpu_wait_seconds=sum(w.cpu_wait_seconds or 0.0 for w in workers), planned=planned,
        delivered=not problems, problems=problems, workers=tuple(workers),
        workers_needed=workers_needed(plan_rate_total, workers) if saturated else None)


def workers_needed(rate_total: float, workers: Sequence[WorkerReport]) -> int | None:
    """Workers for ``rate_total`` req/s at HEADROOM CPU each, from the costliest worker's CPU per request."""
    costs = [w.cpu_seconds / sent for w in workers
             if w.cpu_seconds and (sent := w.recorded - w.agent_saturated) > 0]
    if not costs:
        return None
    return max(1, math.ceil(rate_total * max(costs) / HEADROOM))


def merge_reports(reports: Sequence[AgentReport]) -> AgentReport:
    """One account for several agents (e.g. this host's and an in-cluster one): counts add up, utilisation
    and lags are the worst agent's (each worker is single-threaded), delivered only if each was."""
    if len(reports) == 1:
        return reports[0]
    needed = [r.workers_needed for r in reports if r.workers_needed is not None]
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
        cpu_wait_seconds=sum(r.cpu_wait_seconds for r in reports),
        planned=sum(r.planned for r in reports), delivered=all(r.delivered for r in reports),
        problems=tuple(p for r in reports for p in r.problems),
        workers=tuple(w for r in reports for w in r.workers),
        workers_needed=max(needed) if needed else None)


def check_stream_end(leftover: int, *, output_tail: Callable[[], str]) -> None:
    """A stream that ends inside a record is corrupt (not a lighter load): an infrastructure failure."""
    if leftover:
        raise AgentError(f"record stream ended inside a record ({leftover} bytes left)", output_tail=output_tail())


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def worker_from_dict(data: Mapping[str, Any]) -> WorkerReport:
    """A WorkerReport back from its ``dataclasses.asdict`` form (summary.json's context); unknown keys ignored."""
    known = {f.name for f in fields(WorkerReport)}
    values = {k: v for k, v in data.items() if k in known}
    lag = values.get("lag")
    lag_fields = {f.name for f in fields(LagStats)}
    values["lag"] = LagStats(**{k: v for k, v in lag.items() if k in lag_fields}) if isinstance(lag, dict) \
        else LagStats()
    try:
        return WorkerReport(**values)
    except TypeError as exc:
        raise ValueError(f"not a load worker report: {exc}") from exc
