"""How many load workers a plan needs: ``workers: auto`` from the planned rate and a per-worker ceiling.

The ceiling is the benchmark figure, not a calibration run: one agent core kept an honest schedule (p99 start
lag < 20 ms) up to 8,000 keep-alive or 3,000 new-connection requests/s (BENCHMARKS.md, "Load agent"), and
auto plans for half of that. Why not calibrate per machine: a calibration against a loopback sink measures the
client's best case, not the target's real answers (body sizes, TLS, slow responses), so it would need the same
margin; it costs seconds per run or a cache that goes stale when the machine is shared (as this one is); and a
wrong guess is never silent, because every worker reports its saturation and the report then says how many
workers the plan needs from the CPU per request the run itself measured (``report.workers_needed``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chaoskit.load.plan import LoadTarget, max_workers

CEILING_PER_CORE: Final = {"keepalive": 8_000.0, "new-connection": 3_000.0}
"""Honest requests/s of one agent core (bench/bench_load.py, BENCHMARKS.md)."""
SAFETY: Final = 0.5
"""auto plans each worker at this share of the benchmark ceiling."""
HTTPS_COST: Final = {"keepalive": 1.2, "new-connection": 2.75}
"""Agent CPU per https request relative to plain http (BENCHMARKS.md, request shapes)."""


@dataclass(frozen=True)
class WorkerChoice:
    count: int
    notes: tuple[str, ...] = ()
    """What the report should say about the choice (auto's reasoning)."""


def connection_kind(connection: str, targets: Sequence[LoadTarget]) -> str:
    """tcp mode opens a connection per request whatever ``connection`` says."""
    return "new-connection" if connection == "new-connection" or any(t.request.mode == "tcp" for t in targets) \
        else "keepalive"


def per_worker_ceiling(connection: str, targets: Sequence[LoadTarget]) -> float:
    """Requests/s one worker is planned to carry: the benchmark ceiling, halved, divided by the https cost."""
    kind = connection_kind(connection, targets)
    cost = max((HTTPS_COST[kind] if t.request.https else 1.0 for t in targets), default=1.0)
    return CEILING_PER_CORE[kind] * SAFETY / cost


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def choose_workers(setting: int | str, targets: Sequence[LoadTarget], *, rate: float, connection: str,
                   in_cluster: bool, cores: int | None = None) -> WorkerChoice:
    """The worker count for ``setting`` (a count, or ``auto``) over ``targets`` at ``rate`` per address.

    auto: the planned total over the per-worker ceiling, at least 1, at most what the rate can be split into
    and, on this host, the cores it has (a second worker on a busy core adds no throughput).
    """
    if setting != "auto":
        return WorkerChoice(int(setting))
    total = rate * len(targets)
    ceiling = per_worker_ceiling(connection, targets)
    wanted = max(1, math.ceil(total / ceiling))
    limit = max_workers(rate)
    where = "in-cluster pods" if in_cluster else "processes on this host"
    if not in_cluster:
        limit = min(limit, cores or usable_cores())
    count = min(wanted, limit)
    note = (f"workers auto: {count} {where} for {total:,.0f} req/s "
            f"({connection_kind(connection, targets)}; planned ceiling {ceiling:,.0f} req/s per worker, "
            f"half the benchmark figure)")
    if count < wanted:
        bound = f"the rate splits into at most {limit}" if in_cluster else f"this host has {limit} usable cores"
        note += f"; the plan wants {wanted}, but {bound}: the workers may saturate (the report says so)"
    return WorkerChoice(count, (note,))
