"""replicas-colocated: a node fault took more replicas of one workload than an even spread would have put on
that node (more than one when there are at least as many nodes as replicas), and nothing in the pod template
keeps them apart (no topology spread constraint or pod anti-affinity on the hostname).

The evidence also says how they came to share the node: a replica placed while another node was cordoned or
not Ready stays where it landed (Kubernetes never moves a running pod back).
"""

from __future__ import annotations

import math
from typing import Final

from chaoskit.analysis.findings.context import FindingContext, count_at, evidence, outcome_text
from chaoskit.analysis.findings.model import LOW, Finding, lower, share_confidence
from chaoskit.analysis.findings.registry import Rule
from chaoskit.analysis.findings.snippets import render, workload_patch
from chaoskit.analysis.templates import HOSTNAME_KEY, WorkloadFacts
from chaoskit.analysis.timeline import FaultInstance
from chaoskit.vocab import EventKind

RULE_ID: Final = "replicas-colocated"
_AWAY: Final = {EventKind.NODE_CORDONED.value: True, EventKind.NODE_NOT_READY.value: True,
                EventKind.NODE_UNCORDONED.value: False, EventKind.NODE_READY.value: False}
MECHANISM: Final = (
    "The scheduler places each pod on its own merits; without a topology spread constraint or pod anti-affinity "
    "nothing stops two replicas from sharing a node, and a replica placed while another node was cordoned or "
    "down stays there, since Kubernetes never moves running pods. One node fault then takes all of them at once.")


def evaluate(ctx: FindingContext) -> list[Finding]:
    nodes = len(ctx.node_names())
    findings = []
    for fault in (f for f in ctx.timeline.faults if f.kind.startswith("node-")):
        groups: dict[str, list[str]] = {}
        for victim in fault.victims:
            groups.setdefault(ctx.workload_name(victim.pod), []).append(victim.pod)
        for name, pods in groups.items():
            finding = _judge(ctx, fault, name, pods, nodes)
            if finding is not None:
                findings.append(finding)
    return findings


def _judge(ctx: FindingContext, fault: FaultInstance, name: str, pods: list[str], nodes: int) -> Finding | None:
    workload = ctx.workload(pods[0])
    if workload is not None and workload.spread:
        return None
    steps = ctx.serving_steps(ctx.member_of(name))
    before = count_at(steps, fault.begin_ns)
    replicas = workload.replicas if workload and workload.replicas else before
    even = math.ceil(replicas / nodes) if nodes else replicas
    if len(pods) <= max(1, even):
        return None
    explained = ctx.failures.where(ctx.shortfall(steps, before - 1, *ctx.fault_span(fault.name)).hits)
    lines = [f"{fault.name} at {ctx.at(fault.begin_ns)} hit {fault.victims[0].node or 'one node'}, which held "
             f"{len(pods)} of the {replicas} replicas of {name} ({', '.join(pods)}), although {nodes} nodes could "
             f"have held at most {even} each.",
             *_placements(ctx, pods),
             (f"{len(explained)} requests failed while more than one replica was out "
              f"({outcome_text(explained.outcomes())})." if len(explained) else
              "No request failed while more than one replica was out."),
             _template_line(workload)]
    if len(explained):
        level, basis = share_confidence(len(explained), len(ctx.failures), observed=True,
                                        caveat=f"placement (pod events) and {ctx.routing_source} were observed")
    else:
        level, basis = LOW, "no request failed because of it; placement was observed (pod events)"
    if workload is None:
        level, basis = lower(level), basis + "; the pod template was not available"
    return Finding(
        rule=RULE_ID,
        headline=f"one node fault took {len(pods)} of {replicas} replicas of {name} at once"
                 + (f"; {len(explained)} requests failed meanwhile" if len(explained) else ""),
        workload=name,
        evidence=evidence(explained, len(ctx.failures), pods=tuple(pods), faults=(fault.name,), lines=tuple(lines),
                          measured={"replicas_on_node": float(len(pods)), "replicas": float(replicas),
                                    "nodes": float(nodes)}),
        mechanism=MECHANISM,
        recommendation="Spread the replicas over nodes with a topology spread constraint (maxSkew: 1 on "
                       f"{HOSTNAME_KEY}, DoNotSchedule); a replacement then waits Pending rather than join "
                       "another replica while a node is cordoned.",
        snippet=_snippet(workload, pods[0]),
        confidence=level, confidence_basis=basis,
        references=("https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/",),
    )


def _template_line(workload: WorkloadFacts | None) -> str:
    if workload is None:
        return "The manifests were not available: whether the template spreads its pods is unknown."
    return (f"{workload.describe} has no topology spread constraint or pod anti-affinity on {HOSTNAME_KEY}"
            + (f"; it is pinned ({workload.pinned})." if workload.pinned else "."))


def _placements(ctx: FindingContext, pods: list[str]) -> list[str]:
    """For each co-located pod: when it was placed, and which nodes were cordoned or not Ready then."""
    kind = ctx.events["kind"].astype(str)
    node_rows = ctx.events.loc[kind.isin(list(_AWAY)), ["ts_ns", "kind", "name"]].sort_values("ts_ns", kind="stable")
    lines = []
    for pod in pods:
        history = ctx.timeline.pods.get(pod)
        if history is None or not history.scheduled_ns:
            continue
        at = history.scheduled_ns[0]
        away: dict[str, bool] = {}
        for ts, what, node in node_rows.itertuples(index=False, name=None):
            if int(ts) > at:
                break
            away[str(node)] = _AWAY[str(what)]
        missing = sorted(n for n, gone in away.items() if gone)
        lines.append(f"{pod} was placed on {history.node} at {ctx.at(at)}"
                     + (f" while {', '.join(missing)} was cordoned or not Ready." if missing else "."))
    return lines


def _snippet(workload: WorkloadFacts | None, pod: str) -> str:
    labels = dict(workload.labels or {}) if workload else {"app": pod.rsplit("-", 2)[0]}
    spread = {"topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": HOSTNAME_KEY, "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": labels}}]}
    return render(workload_patch(workload, spread, fallback=pod.rsplit("-", 2)[0]),
                  "At most one replica more on any node than on the emptiest one.")


RULE: Final = Rule(RULE_ID, "Replicas co-located: one node fault took several replicas", evaluate)
