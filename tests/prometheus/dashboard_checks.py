"""What each dashboard query must return after a known run: one checker per PromQL expression."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoskit.analysis.summary import RunSummary
from chaoskit.metrics.names import LIVE_PHASES
from dashboards import queries as q

DASHBOARDS = Path(__file__).parents[2] / "dashboards" / "json"
RATE_INTERVAL = "4s"
"""What Grafana makes of $__rate_interval at a 1 s scrape interval: 4 x scrape interval."""
STEP_S = 1.0
Series = list[dict[str, Any]]


@dataclass(frozen=True)
class Facts:
    """The run the queries are checked against."""

    summary: RunSummary
    experiment: str
    offered_rps: dict[str, float]
    """Offered load per service type (rate x addresses)."""


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """(where, expression) of every PromQL expression and variable query in the committed dashboards."""
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for annotation in board.get("annotations", {}).get("list", []):
            if "expr" in annotation:
                yield f"{path.name} annotation {annotation['name']}", annotation["expr"]
        for panel in _panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                yield f"{path.name} panel {panel['title']!r} {target['refId']}", target["expr"]
        for variable in board.get("templating", {}).get("list", []):
            yield f"{path.name} variable {variable['name']}", variable["query"]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def substitute(expr: str, experiment: str) -> str:
    """Template variables as Grafana fills them in for one experiment and all Service types."""
    return (expr.replace("$experiment", experiment).replace("$service_type", "(ClusterIP|NodePort)")
            .replace("$__rate_interval", RATE_INTERVAL))


LABEL_VALUES = re.compile(r"^label_values\((?:(?P<match>.+),\s*)?(?P<label>\w+)\)$")


def values(series: Series) -> list[float]:
    return [float(v) for s in series for _, v in s["values"]]


def last(series: Series, **labels: str) -> float:
    """The latest value of the one series with these labels."""
    found = [s for s in series if all(s["metric"].get(k) == v for k, v in labels.items())]
    assert len(found) == 1, f"expected one series with {labels}, got {[s['metric'] for s in found]}"
    return float(found[0]["values"][-1][1])


def by_type(series: Series, service_type: str, **labels: str) -> list[float]:
    return [float(v) for s in series if s["metric"].get("service_type") == service_type
            and all(s["metric"].get(k) == val for k, val in labels.items()) for _, v in s["values"]]


def check_request_rate(series: Series, facts: Facts) -> None:
    for service_type, offered in facts.offered_rps.items():
        ok = sorted(by_type(series, service_type, outcome="ok"))
        assert ok and max(ok) > 0, f"no ok requests/s for {service_type}"
        median = ok[len(ok) // 2]
        # The middle of a run carries the offered load; the edges (ramp-up, ramp-down) carry less.
        assert 0.5 * offered <= max(ok) <= 1.5 * offered, (service_type, max(ok), offered)
        assert median > 0, (service_type, median)


def check_error_ratio(series: Series, facts: Facts) -> None:
    for service_type in facts.offered_rps:
        ratios = [v for v in by_type(series, service_type) if not math.isnan(v)]
        assert ratios, f"no error ratio for {service_type}"
        assert all(0.0 <= v <= 1.0 for v in ratios), ratios


def check_latency(series: Series, facts: Facts) -> None:
    for service_type in facts.offered_rps:
        latencies = [v for v in by_type(series, service_type) if not math.isnan(v)]
        assert latencies, f"no latency for {service_type}"
        assert all(0.0 < v <= 10.0 for v in latencies), latencies


def check_phase(series: Series, facts: Facts) -> None:
    first_seen = sorted((float(s["values"][0][0]), s["metric"]["phase"]) for s in series)
    order = [phase for _, phase in first_seen]
    assert {"baseline", "chaos", "recovery"} <= set(order), order
    assert order == sorted(order, key=LIVE_PHASES.index), order
    assert all(v == 1.0 for v in values(series))


def check_fault_marks(series: Series, facts: Facts) -> None:
    times = sorted({float(t) for s in series for t, v in s["values"] if float(v) > 0})
    clusters: list[list[float]] = []
    for t in times:
        if clusters and t - clusters[-1][-1] <= STEP_S + 1e-6:
            clusters[-1].append(t)
        else:
            clusters.append([t])
    begins = sorted(f.begin_ns / 1e9 for f in facts.summary.recovery)
    assert len(clusters) == len(begins), (clusters, begins)
    for cluster, begin in zip(clusters, begins, strict=True):
        # The mark follows the fault by the collector's pump (0.25 s), one scrape (1 s) and one step (1 s).
        assert begin <= cluster[0] <= begin + 3.0, (cluster, begin)
    assert {s["metric"]["fault"] for s in series} == {f.name.rsplit("#", 1)[0] for f in facts.summary.recovery}


def _clocks(facts: Facts) -> dict[tuple[str, str], float]:
    found = {}
    for f in facts.summary.recovery:
        for clock, value in f.clocks().items():
            if value is not None:
                found[(f.name, clock)] = value
    return found


def check_recovery_worst(series: Series, facts: Facts) -> None:
    clocks = _clocks(facts)
    assert clocks, "the run measured no recovery"
    for clock in {c for _, c in clocks}:
        worst = max(v for (_, c), v in clocks.items() if c == clock)
        assert math.isclose(last(series, clock=clock), worst, abs_tol=1e-6), clock


def check_recovery_per_fault(series: Series, facts: Facts) -> None:
    clocks = _clocks(facts)
    assert len(series) == len(clocks)
    for (fault, clock), value in clocks.items():
        assert math.isclose(last(series, fault=fault, clock=clock), value, abs_tol=1e-6), (fault, clock)


def _window_check(attribute: str) -> Callable[[Series, Facts], None]:
    def check(series: Series, facts: Facts) -> None:
        assert len(series) == len(facts.summary.windows)
        for stats in facts.summary.windows:
            expected = {"total": stats.unavailable_s, "count": float(stats.count),
                        "longest": stats.longest.duration_s if stats.longest else 0.0}[attribute]
            assert math.isclose(last(series, service_type=stats.service_type), expected, abs_tol=1e-6)
    return check


def check_availability(series: Series, facts: Facts) -> None:
    rows = [r for r in facts.summary.availability if r.ratio is not None]
    assert len(series) == len(rows)
    for row in rows:
        value = last(series, service_type=row.service_type, phase=row.phase)
        assert 0.0 <= value <= 1.0
        assert math.isclose(value, row.ratio or 0.0, abs_tol=1e-6), row


def _data_groups(facts: Facts) -> dict[tuple[str, str, str], list[Any]]:
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for r in facts.summary.data:
        groups.setdefault((r.volume_type, r.fault, r.placement), []).append(r)
    assert groups, "the run made no data checks"
    return groups


def check_survival(series: Series, facts: Facts) -> None:
    groups = _data_groups(facts)
    assert len(series) == len(groups)
    for (volume_type, fault, placement), checks in groups.items():
        share = sum(c.survived for c in checks) / len(checks)
        assert last(series, volume_type=volume_type, fault=fault, placement=placement) == share


def check_as_expected(series: Series, facts: Facts) -> None:
    for (volume_type, fault, placement), checks in _data_groups(facts).items():
        expected = 1.0 if all(c.as_expected for c in checks) else 0.0
        assert last(series, volume_type=volume_type, fault=fault, placement=placement) == expected


def check_runs(series: Series, facts: Facts) -> None:
    assert last(series, run_id=facts.summary.run_id, backend=facts.summary.backend) == 1.0


def check_verdict(series: Series, facts: Facts) -> None:
    assert last(series, experiment=facts.experiment) == (1.0 if facts.summary.verdict.passed else 0.0)


CHECKS: dict[str, Callable[[Series, Facts], None]] = {
    q.REQUEST_RATE: check_request_rate,
    q.ERROR_RATIO: check_error_ratio,
    q.P50: check_latency,
    q.P99: check_latency,
    q.CURRENT_PHASE: check_phase,
    q.FAULT_MARKS: check_fault_marks,
    q.RECOVERY_WORST: check_recovery_worst,
    q.RECOVERY_PER_FAULT: check_recovery_per_fault,
    q.WINDOW_TOTAL: _window_check("total"),
    q.WINDOW_LONGEST: _window_check("longest"),
    q.WINDOW_COUNT: _window_check("count"),
    q.AVAILABILITY_BY_PHASE: check_availability,
    q.SURVIVAL: check_survival,
    q.SURVIVAL_AS_EXPECTED: check_as_expected,
    q.RUNS: check_runs,
    q.VERDICT_HISTORY: check_verdict,
}
"""Every panel and annotation expression; variable queries (label_values) are checked separately."""
