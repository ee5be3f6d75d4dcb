"""shutdown-race: new connections failed between a pod's termination and its removal from every node's data
path, because the pod stopped serving first (no preStop hook, or one shorter than the propagation).

The window of one terminating pod runs from its POD_TERMINATING (plus its preStop sleep, during which it still
serves) to the instant the data path stopped sending to its IP: observed on the embedded cluster (PROXY_SYNCED);
on kube only the control plane is seen (EndpointSlices), so the window runs to that removal plus
:data:`CONTROL_PLANE_ALLOWANCE_S`, and the confidence says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from chaoskit.analysis.findings.context import (
    CONNECT_FAILURES,
    Failures,
    FindingContext,
    Termination,
    evidence,
    outcome_text,
)
from chaoskit.analysis.findings.model import Finding, lower, share_confidence
from chaoskit.analysis.findings.registry import Rule
from chaoskit.analysis.findings.snippets import containers_patch, render, serving_containers, workload_patch
from chaoskit.analysis.frames import NS_PER_S, BoolArray
from chaoskit.analysis.templates import WorkloadFacts

RULE_ID: Final = "shutdown-race"
MIN_SYNC_PERIOD_S: Final = 1.0
"""kube-proxy's default minSyncPeriod: a removal that arrives just after a sync waits up to this long."""
CONTROL_PLANE_ALLOWANCE_S: Final = 2.0
"""kube: how long after the EndpointSlice removal kube-proxy may still forward (one minSyncPeriod plus the
sync itself on a busy node); the data path is not observable there."""
GRACE_MARGIN_S: Final = 5
MECHANISM: Final = (
    "A deleted pod turns Terminating and leaves the Service's EndpointSlices at once, but every node's "
    "kube-proxy applies that change on its own schedule (at most once per minSyncPeriod, 1 s by default) and "
    "until then keeps sending new connections to the pod. Without a preStop hook the container gets SIGTERM "
    "at the same moment and stops accepting, so those connections are refused, reset or time out.")


@dataclass(frozen=True)
class _Race:
    term: Termination
    removed_ns: int | None
    propagation_s: float
    """Termination to removal (data path), or on kube the longer of the EndpointSlice removal and the last
    failure seen in the window (an observed lower bound of the data path's lag)."""
    hits: BoolArray


def evaluate(ctx: FindingContext) -> list[Finding]:
    fails = ctx.failures
    connect = np.isin(fails.outcome, sorted(CONNECT_FAILURES))
    by_workload: dict[str, list[_Race]] = {}
    for term in ctx.terminations:
        race = _race(ctx, term, connect)
        if race is not None:
            by_workload.setdefault(ctx.workload_name(term.pod), []).append(race)
    findings = []
    for races in by_workload.values():
        hits = np.logical_or.reduce([r.hits for r in races])
        if hits.any():
            findings.append(_finding(ctx, races, hits))
    return findings


def _race(ctx: FindingContext, term: Termination, connect: BoolArray) -> _Race | None:
    if not term.ip:
        return None
    removed, services = ctx.removed_from_routing(term.ip, term.ts_ns)
    if not services:
        return None  # nothing routed to it: no Service could send it traffic
    workload = ctx.workload(term.pod)
    sleep_ns = int((workload.pre_stop_sleep_s if workload else 0.0) * NS_PER_S)
    end = removed if removed is not None else ctx.run_end_ns
    if not ctx.data_path_observed:
        end = max(end, term.ts_ns) + int(CONTROL_PLANE_ALLOWANCE_S * NS_PER_S)
    fails = ctx.failures
    hits = connect & fails.started_in(term.ts_ns + sleep_ns, end) & np.isin(fails.service, sorted(services))
    lag_ns = max(0, (removed if removed is not None else end) - term.ts_ns)
    if not ctx.data_path_observed and hits.any():
        lag_ns = max(lag_ns, int(fails.start[hits].max()) - term.ts_ns)
    return _Race(term, removed, lag_ns / NS_PER_S, np.asarray(hits))


def _finding(ctx: FindingContext, races: list[_Race], hits: BoolArray) -> Finding:
    explained = ctx.failures.where(hits)
    workload = ctx.workload(races[0].term.pod)
    lags = np.array([r.propagation_s for r in races])
    p50, p99 = (float(np.percentile(lags, q, method="higher")) for q in (50, 99))
    sleep_s = workload.pre_stop_sleep_s if workload else 0.0
    seconds = max(1, math.ceil(p99 + MIN_SYNC_PERIOD_S))
    lines = _lines(ctx, races, explained, lags, sleep_s)
    observed = ctx.data_path_observed
    level, basis = share_confidence(
        len(explained), len(ctx.failures), observed=observed,
        caveat="the data path was observed (PROXY_SYNCED)" if observed else
        "kube-proxy's data path is not observable here: the window is the EndpointSlice removal plus "
        f"{CONTROL_PLANE_ALLOWANCE_S:g} s, and the propagation is the later of that removal and the last failure")
    if workload is None:
        level, basis = lower(level), basis + "; the manifests were not available to check for a preStop hook"
    pods = tuple(r.term.pod for r in races if r.hits.any())
    return Finding(
        rule=RULE_ID,
        headline=f"{len(explained)} requests failed while terminating pods were still in the data path: "
                 f"{'no preStop hook' if sleep_s <= 0 else f'a {sleep_s:g} s preStop sleep'} against a "
                 f"{p99:.3f} s propagation (p99)",
        workload=ctx.workload_name(races[0].term.pod),
        evidence=evidence(explained, len(ctx.failures), pods=pods,
                          faults=tuple(f.name for f in ctx.timeline.faults if {v.pod for v in f.victims} & set(pods)),
                          measured={"propagation_p50_s": round(p50, 6), "propagation_p99_s": round(p99, 6),
                                    "propagation_max_s": round(float(lags.max()), 6), "pre_stop_sleep_s": sleep_s,
                                    "recommended_sleep_s": float(seconds)},
                          lines=tuple(lines)),
        mechanism=MECHANISM,
        recommendation=f"Add a preStop sleep of {seconds} s (the measured propagation p99 plus one kube-proxy "
                       "sync period) so the pod keeps serving until every proxy has stopped sending to it; keep "
                       "terminationGracePeriodSeconds above the sleep plus your server's shutdown time.",
        snippet=_snippet(workload, seconds, races[0].term.pod),
        confidence=level, confidence_basis=basis,
        references=("https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination",),
    )


def _lines(ctx: FindingContext, races: list[_Race], explained: Failures, lags: np.ndarray, sleep_s: float) -> list[str]:
    observed = ctx.data_path_observed
    where = "every node's data path" if observed else "the Service's EndpointSlices"
    p50, p99 = (float(np.percentile(lags, q, method="higher")) for q in (50, 99))
    return [
        f"{len(explained)} failed requests ({outcome_text(explained.outcomes())}) started between a pod's "
        f"termination and its removal from {where}"
        + ("" if observed else f" plus {CONTROL_PLANE_ALLOWANCE_S:g} s")
        + f": first at {ctx.at(int(explained.start.min()))}, last at {ctx.at(int(explained.start.max()))}, "
          f"on {len(set(explained.address.tolist()))} address(es).",
        *(_victim_line(ctx, r, observed) for r in races[:6] if r.hits.any()),
        f"Propagation (Terminating to out of {where}) over {len(races)} termination(s): p50 {p50:.3f} s, "
        f"p99 {p99:.3f} s, max {float(lags.max()):.3f} s.",
        _template_line(ctx.workload(races[0].term.pod), sleep_s),
    ]


def _victim_line(ctx: FindingContext, race: _Race, observed: bool) -> str:
    term = race.term
    gone = "never left it" if race.removed_ns is None else f"out at {ctx.at(race.removed_ns)}"
    return (f"{term.pod} ({term.ip} on {term.node or '?'}): deleted at {ctx.at(term.ts_ns)}, "
            f"{'data path' if observed else 'EndpointSlices'} {gone} ({race.propagation_s:.3f} s); "
            f"{int(race.hits.sum())} failure(s) in between.")


def _template_line(workload: WorkloadFacts | None, sleep_s: float) -> str:
    if workload is None:
        return "The manifests were not available: the pod template's preStop hook is unknown."
    grace = f"terminationGracePeriodSeconds {workload.grace_period_s:g}"
    if sleep_s <= 0:
        return f"{workload.describe} has no preStop sleep ({grace})."
    return f"{workload.describe} sleeps {sleep_s:g} s in preStop ({grace}): shorter than the propagation."


def _snippet(workload: WorkloadFacts | None, seconds: int, pod: str) -> str:
    hook = {"lifecycle": {"preStop": {"sleep": {"seconds": seconds}}}}
    pod_spec: dict[str, object] = {"containers": containers_patch(serving_containers(workload), hook)}
    grace = workload.grace_period_s if workload else 30.0
    if grace < seconds + 1:
        pod_spec = {"terminationGracePeriodSeconds": seconds + max(GRACE_MARGIN_S, math.ceil(grace)), **pod_spec}
    comment = ("Keep serving while every node's kube-proxy stops sending new connections here.\n"
               f"Kubernetes < 1.30: use exec: {{command: [sleep, \"{seconds}\"]}} if the image has a sleep binary.")
    return render(workload_patch(workload, pod_spec, fallback=pod.rsplit("-", 2)[0]), comment)


RULE: Final = Rule(RULE_ID, "Shutdown race: the pod stopped serving before the proxies stopped sending", evaluate)
