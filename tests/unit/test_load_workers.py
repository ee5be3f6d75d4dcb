"""Unit tests of the load workers' pure parts: shares, lag statistics, per-worker reports, sizing, clock math."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from chaoskit.cluster.kube.agentclock import best_sample
from chaoskit.load import lags
from chaoskit.load.plan import LoadPlan, LoadTarget, PlanError, Share, max_workers
from chaoskit.load.report import LagStats, WorkerTally, combine, worker_from_dict, worker_report, workers_needed
from chaoskit.load.shape import RequestShape
from chaoskit.load.sizing import choose_workers
from chaoskit.load.stream import LagCounts

pytestmark = pytest.mark.unit

TARGETS = (LoadTarget("web", "ClusterIP", "127.62.0.1", 8080), LoadTarget("web", "NodePort", "127.62.0.2", 30080))


def plan(**overrides: object) -> LoadPlan:
    fields: dict[str, object] = {"targets": TARGETS, "rate": 10.0, "duration_s": 2.05, "connection": "keepalive",
                                 "timeout_s": 1.0}
    fields.update(overrides)
    return LoadPlan(**fields)  # type: ignore[arg-type]


def test_shares_split_every_target_schedule_exactly() -> None:
    p = plan(workers=3)
    assert p.requests_per_target == 21
    shares = [p.share(k) for k in range(3)]
    assert [s.requests(21) for s in shares] == [7, 7, 7]
    assert sum(p.planned_requests(s) for s in shares) == p.planned_requests() == 42
    assert Share(2, 4).requests(21) == len(range(2, 21, 4)) == 5


def test_a_rate_splits_into_at_most_one_request_per_second_per_worker() -> None:
    assert max_workers(5.0) == 5 and max_workers(0.5) == 1 and max_workers(10_000.0) == 64
    with pytest.raises(PlanError, match="workers: between 1 and 10"):
        plan(workers=11)
    with pytest.raises(PlanError, match="workers: between 1 and 10"):
        plan(workers=0)


def test_lag_buckets_agree_between_the_agent_and_chaoskit() -> None:
    values = np.array([0, 5_000, 9_999, 10_000, 999_999, 10_000_000, 10_000_001, 99_999_999, 100_000_000,
                       100_500_000, 59_999_999_999, 60_000_000_000, 10**12, -5], dtype=np.int64)
    counts = LagCounts()
    counts.add(values)
    agent = lags.LagHistogram()
    for v in values.tolist():
        agent.add(v)
    assert counts.counts.tolist() == agent.counts.tolist()
    assert counts.late == agent.late == 7 and counts.max_ns == agent.max_ns == 10**12
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        assert counts.quantile_ns(q) == lags.quantile_ns(agent.counts, q)


def test_a_lag_quantile_never_understates() -> None:
    counts = LagCounts()
    counts.add(np.arange(1, 1001, dtype=np.int64) * 37_000)  # 37 µs .. 37 ms
    exact = np.quantile(np.arange(1, 1001) * 37_000, 0.99, method="lower")
    assert exact <= counts.quantile_ns(0.99) <= exact + 10_000  # one 10 µs bucket above, at most
    assert counts.stats() == LagStats(late_starts=730, p50_ms=counts.quantile_ns(0.5) / 1e6,
                                      p99_ms=counts.quantile_ns(0.99) / 1e6, max_ms=37.0)


def done(requests: int, **extra: object) -> dict[str, object]:
    return {"requests": requests, "cpu_seconds": 1.0, "wall_seconds": 4.0, "cpu_wait_seconds": 0.1,
            "agent_saturated": 0, "connections": 3, "stopped": False, "failures": [], **extra}


def test_a_worker_that_ran_its_share_delivered_it() -> None:
    p = plan(workers=2)
    tally = WorkerTally(worker="local/1", share=p.share(1), where="pid 7", recorded=20)
    w = worker_report(p, tally, done(20), 0)
    assert (w.planned, w.recorded, w.finished, w.problem) == (20, 20, True, "")
    assert w.planned_rate == w.delivered_rate == round(20 / 2.05, 3)
    assert w.cpu_utilisation == 0.25 and not w.saturated


@pytest.mark.parametrize(("reported", "exit_code", "recorded", "says"), [
    (None, -9, 5, "worker local/0 (pid 7) died (signal 9): 5 of its 22 requests recorded"),
    (None, 1, 0, "exited with code 1"),
    (None, None, 3, "never reported its end"),
    (None, 0, 22, "exited without finishing"),
    ({"stopped": True}, 0, 22, "was stopped"),
    ({"failures": ["target 0: boom"]}, 1, 22, "failed: target 0: boom"),
    ({}, 0, 19, "recorded fewer requests than its share: 19 of its 22"),
])
def test_a_worker_that_did_not_deliver_says_why(reported: dict[str, object] | None, exit_code: int | None,
                                                  recorded: int, says: str) -> None:
    p = plan(workers=2)
    tally = WorkerTally(worker="local/0", share=p.share(0), where="pid 7", recorded=recorded)
    w = worker_report(p, tally, None if reported is None else done(recorded, **reported), exit_code)
    assert says in w.problem and not (w.finished and w.recorded == w.planned)
    report = combine(20.0, [w], planned=p.planned_requests())
    assert not report.delivered and report.problems == (w.problem,)


def test_combined_workers_report_the_worst_and_how_many_workers_are_needed() -> None:
    p = plan(workers=2, rate=1000.0, duration_s=10.0)
    busy = dataclasses.replace(worker_report(p, WorkerTally("local/0", p.share(0), recorded=10_000),
                                             done(10_000, cpu_seconds=9.5, wall_seconds=10.0), 0),
                               lag=LagStats(late_starts=40, p99_ms=25.0, max_ms=80.0))
    calm = worker_report(p, WorkerTally("local/1", p.share(1), recorded=10_000), done(10_000), 0)
    report = combine(2000.0, [busy, calm], planned=p.planned_requests())
    assert report.delivered and report.requests == report.planned == 20_000
    assert report.cpu_utilisation == 0.95 and report.p99_lag_ms == 25.0 and report.late_starts == 40
    # 0.95 ms of CPU per request (the costlier worker's) at 2,000 req/s is 1.9 cores; at 70 % each, 3 workers.
    assert report.saturated and report.workers_needed == workers_needed(2000.0, [busy, calm]) == 3


def test_a_worker_report_round_trips_through_json() -> None:
    p = plan(workers=2)
    w = worker_report(p, WorkerTally("in-cluster/1", p.share(1), where="pod a", recorded=3,
                                     clock_offset_ms=-0.4, clock_uncertainty_ms=0.9), None, None)
    assert worker_from_dict({**dataclasses.asdict(w), "unknown": 1}) == w


def test_auto_sizes_workers_from_the_rate_and_the_benchmark_ceiling() -> None:
    def auto(rate: float, connection: str, targets: tuple[LoadTarget, ...] = TARGETS[:1], *, cores: int = 8,
             in_cluster: bool = False) -> int:
        return choose_workers("auto", targets, rate=rate, connection=connection, in_cluster=in_cluster,
                              cores=cores).count
    assert auto(1000, "keepalive") == 1
    assert auto(4001, "keepalive") == 2  # half of 8,000 per core, planned
    assert auto(3000, "new-connection") == 2  # half of 3,000
    assert auto(3000, "new-connection", cores=1) == 1  # never more processes than this host's cores
    assert auto(3000, "new-connection", cores=1, in_cluster=True) == 2  # pods are not this host's cores
    https = (dataclasses.replace(TARGETS[0], request=RequestShape(https=True)),)
    assert auto(1000, "new-connection", https) == 2  # a handshake per request costs 2.75x
    tcp = (dataclasses.replace(TARGETS[0], request=RequestShape(mode="tcp")),)
    assert auto(2000, "keepalive", tcp) == 2  # tcp mode connects per request whatever `connection` says
    assert auto(3.0, "new-connection", cores=64) == 1
    assert choose_workers(3, TARGETS, rate=10.0, connection="keepalive", in_cluster=False).count == 3
    choice = choose_workers("auto", TARGETS, rate=9000.0, connection="keepalive", in_cluster=False, cores=2)
    assert choice.count == 2 and "wants 5" in choice.notes[0] and "2 usable cores" in choice.notes[0]


def test_clock_offset_is_ntps_best_sample() -> None:
    # The pod's clock is 1 ms ahead; round trips of 0.4 ms and 3 ms (the slow one skewed by its queueing).
    fast = (1_000_000, 2_200_000, 2_210_000, 1_410_000)
    slow = (5_000_000, 8_500_000, 8_510_000, 8_010_000)
    sample = best_sample([slow, fast])
    assert sample.delay_ns == 400_000 and sample.offset_ns == 1_000_000
