"""Every PromQL expression of the committed dashboards, run against a real Prometheus after a real run."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.engine.observer import Observers
from chaoskit.engine.runner import Engine, RunOptions
from chaoskit.metrics import MetricsServer, RunMetrics
from dashboards import queries as q
from tests.local.engine_support import experiment
from tests.prometheus.dashboard_checks import (
    CHECKS,
    LABEL_VALUES,
    STEP_S,
    Facts,
    dashboard_queries,
    substitute,
)
from tests.prometheus.servers import HOST, Prometheus, poll

pytestmark = [pytest.mark.prometheus, pytest.mark.local, pytest.mark.slow]

EXPERIMENT = "metrics-live"
SUBNET = 66
"""This tier's local cluster lives in 127.66.0.0/16."""


@dataclass(frozen=True)
class LiveRun:
    prom: Prometheus
    facts: Facts
    start: float
    end: float


@pytest.fixture(scope="module")
def live_run(prom_stack: tuple[Prometheus, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """pod-recreate (2 s / 15 s / 3 s, three pod deletions) with the live exporter scraped every second."""
    prom, _ = prom_stack
    shipped = experiment("pod-recreate", baseline=2, chaos=15, recovery=3)
    spec = type(shipped).model_validate({**shipped.model_dump(by_alias=True), "name": EXPERIMENT})
    metrics = RunMetrics.for_experiment(spec, backend="local")
    out = Path(tmp_path_factory.mktemp("runs"))
    start = time.time()
    with MetricsServer(metrics.registry, host=HOST, port=0) as server:
        target = f"{server.host}:{server.port}"
        prom.scrape([target])
        prom.wait_target_up(target)
        engine = Engine(spec, LocalCluster(LocalClusterConfig(subnet=SUBNET), seed=1),
                        options=RunOptions(out_dir=out, seed=1), observers=Observers(metrics))
        metrics.identify(run_id=engine.run_dir.run_id)
        record = asyncio.run(engine.run())
        summary = record.summary
        metrics.finalize(summary)
        poll("the final verdict in Prometheus",
             lambda: prom.query(f'chaoskit_experiment_verdict{{experiment="{EXPERIMENT}"}}') or None, timeout_s=15)
        for _ in range(3):  # final values held for a few scrapes: a 1 s query step lands on them for sure
            assert server.wait_for_scrape(since=server.scrape_mark(), timeout_s=15), "Prometheus stopped scraping"
        end = time.time()
    rates = {"ClusterIP": spec.load.rate * 1, "NodePort": spec.load.rate * 3}  # NodePort: one address per node
    yield LiveRun(prom, Facts(summary, EXPERIMENT, rates), start, end)


def test_every_dashboard_expression_has_a_check() -> None:
    exprs = {expr for _, expr in dashboard_queries() if not expr.startswith("label_values(")}
    assert exprs == set(CHECKS), "a dashboard query without a check, or a check for a query no dashboard uses"


@pytest.mark.parametrize(("where", "expr"), [pytest.param(w, e, id=w) for w, e in dashboard_queries()
                                             if not e.startswith("label_values(")])
def test_dashboard_expression_returns_the_runs_values(live_run: LiveRun, where: str, expr: str) -> None:
    series = live_run.prom.query_range(substitute(expr, EXPERIMENT), start=live_run.start, end=live_run.end,
                                       step_s=STEP_S)
    assert series, f"{where}: no data for {substitute(expr, EXPERIMENT)}"
    CHECKS[expr](series, live_run.facts)


@pytest.mark.parametrize(("where", "expr"), [pytest.param(w, e, id=w) for w, e in dashboard_queries()
                                             if e.startswith("label_values(")])
def test_template_variable_lists_the_run(live_run: LiveRun, where: str, expr: str) -> None:
    found = LABEL_VALUES.match(substitute(expr, EXPERIMENT))
    assert found is not None, expr
    params = {"start": f"{live_run.start:.3f}", "end": f"{live_run.end:.3f}"}
    if found["match"]:
        params["match[]"] = found["match"]
    listed = set(live_run.prom.api(f"label/{found['label']}/values", **params))
    expected = {"experiment": {EXPERIMENT}, "service_type": {"ClusterIP", "NodePort"}}[found["label"]]
    assert expected <= listed, (where, listed)


def test_latency_p50_never_above_p99(live_run: LiveRun) -> None:
    def by_point(expr: str) -> dict[tuple[str, float], float]:
        series = live_run.prom.query_range(substitute(expr, EXPERIMENT), start=live_run.start, end=live_run.end)
        return {(s["metric"]["service_type"], float(t)): float(v) for s in series for t, v in s["values"]
                if not math.isnan(float(v))}

    p50, p99 = by_point(q.P50), by_point(q.P99)
    common = p50.keys() & p99.keys()
    assert common
    assert all(p50[k] <= p99[k] for k in common)


def test_requests_counted_live_match_the_run(live_run: LiveRun) -> None:
    """The live counters, as Prometheus last scraped them, hold every request the run recorded."""
    total = live_run.prom.query(f'sum(chaoskit_requests_total{{experiment="{EXPERIMENT}"}})', at=live_run.end)
    assert float(total[0]["value"][1]) == live_run.facts.summary.requests
