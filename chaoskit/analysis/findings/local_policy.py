"""traffic-policy-local: a node address of a Service with ``externalTrafficPolicy: Local`` failed while that
node had no ready pod (a node forwards such traffic only to its own ready pods)."""

from __future__ import annotations

from typing import Final

import numpy as np

from chaoskit.analysis.evidence import AddressFacts
from chaoskit.analysis.findings.context import FindingContext, evidence, outcome_text
from chaoskit.analysis.findings.model import Finding, share_confidence
from chaoskit.analysis.findings.registry import Rule
from chaoskit.analysis.findings.snippets import render
from chaoskit.analysis.frames import BoolArray

RULE_ID: Final = "traffic-policy-local"
MECHANISM: Final = (
    "With externalTrafficPolicy: Local a node forwards NodePort and LoadBalancer traffic only to ready pods on "
    "that same node (to keep the client's source IP), and drops it when it has none, so clients time out. A "
    "load balancer avoids such nodes through the Service's health check node port; a client that addresses the "
    "node directly does not.")


def evaluate(ctx: FindingContext) -> list[Finding]:
    by_service: dict[str, list[tuple[AddressFacts, BoolArray, list[tuple[int, int]]]]] = {}
    fails = ctx.failures
    for address in (a for a in ctx.facts.addresses if a.traffic_local and a.node):
        on_address = fails.address == address.target
        if not on_address.any():
            continue
        empty = without_ready_pods(ctx, address.node)
        inside = np.zeros(len(fails), dtype=bool)
        for begin, end in empty:
            inside |= fails.started_in(begin, end - 1)
        hits = on_address & inside
        if hits.any():
            by_service.setdefault(address.service, []).append((address, hits, empty))
    return [_finding(ctx, service, found) for service, found in by_service.items()]


def without_ready_pods(ctx: FindingContext, node: str) -> list[tuple[int, int]]:
    """Intervals (ns) in which ``node`` had no ready pod (chaoskit's own agent excluded); the run starts with
    none known ready (the event bus replays the current state first)."""
    on_node = {name for name, pod in ctx.timeline.pods.items() if pod.node == node}
    steps = ctx.ready_steps(lambda pod: pod in on_node)
    out: list[tuple[int, int]] = []
    empty_since: int | None = 0
    for ts, count in steps:
        if count and empty_since is not None:
            out.append((empty_since, ts))
            empty_since = None
        elif not count and empty_since is None:
            empty_since = ts
    if empty_since is not None:
        out.append((empty_since, int(np.iinfo(np.int64).max)))
    return out


def _finding(ctx: FindingContext, service: str,
             found: list[tuple[AddressFacts, BoolArray, list[tuple[int, int]]]]) -> Finding:
    hits = np.logical_or.reduce([h for _, h, _ in found])
    explained = ctx.failures.where(hits)
    lines = []
    for address, address_hits, _ in found:
        mine = ctx.failures.where(address_hits)
        lines.append(f"{address.service_type} {address.target} failed {len(mine)} time(s) "
                     f"({outcome_text(mine.outcomes())}) between {ctx.at(int(mine.start.min()))} and "
                     f"{ctx.at(int(mine.start.max()))} while {address.node} had no ready pod.")
    caveat = "node readiness of the pods was observed (pod events)"
    if ctx.data_path_observed:
        caveat += "; the embedded cluster refuses such traffic where kube-proxy drops it (connect timeouts)"
    level, basis = share_confidence(len(explained), len(ctx.failures), observed=True, caveat=caveat)
    document = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
                "spec": {"externalTrafficPolicy": "Cluster"}}
    return Finding(
        rule=RULE_ID,
        headline=f"{len(explained)} requests to Service {service}'s node addresses failed while their node had "
                 "no ready pod (externalTrafficPolicy: Local)",
        workload=f"Service {service}",
        evidence=evidence(explained, len(ctx.failures), lines=tuple(lines),
                          measured={"addresses": float(len(found))}),
        mechanism=MECHANISM,
        recommendation="Use externalTrafficPolicy: Cluster unless you need the client's source IP; if you do, "
                       "send traffic only through a load balancer that health-checks the Service's "
                       "healthCheckNodePort, or keep a ready pod on every node that receives traffic.",
        snippet=render(document, "Any node forwards to any ready pod (the client source IP is lost to SNAT)."),
        confidence=level, confidence_basis=basis,
        references=("https://kubernetes.io/docs/tasks/access-application-cluster/create-external-load-balancer/"
                    "#preserving-the-client-source-ip",),
    )


RULE: Final = Rule(RULE_ID, "externalTrafficPolicy: Local on a node without a ready pod", evaluate)
