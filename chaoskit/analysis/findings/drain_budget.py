"""drain-unprotected: a node drain took more than one pod of a workload out of service at once, because no
PodDisruptionBudget covers it (or the one that does allows it).

Needed: the ready pods before the drain minus one, what a budget of ``maxUnavailable: 1`` keeps. The finding
gives the intervals with fewer ready pods than that, and the requests that failed inside them.
"""

from __future__ import annotations

from typing import Final

from chaoskit.analysis.findings.context import FindingContext, count_at, evidence, outcome_text
from chaoskit.analysis.findings.model import LOW, Finding, lower, share_confidence
from chaoskit.analysis.findings.registry import Rule
from chaoskit.analysis.findings.snippets import render
from chaoskit.analysis.templates import BudgetFacts, WorkloadFacts
from chaoskit.analysis.timeline import FaultInstance
from chaoskit.vocab import EventKind

RULE_ID: Final = "drain-unprotected"
DRAIN_KINDS: Final = frozenset({"node-drain"})
MECHANISM: Final = (
    "kubectl drain evicts every pod of the node through the Eviction API, which refuses an eviction only when a "
    "PodDisruptionBudget would be broken. Without a budget (or with one that allows it) all of a workload's pods "
    "on the node go at once, and the Service has that many fewer ready endpoints until replacements pass their "
    "readiness probes elsewhere.")


def evaluate(ctx: FindingContext) -> list[Finding]:
    findings = []
    for fault in (f for f in ctx.timeline.faults if f.kind in DRAIN_KINDS):
        by_workload: dict[str, list[str]] = {}
        for victim in fault.victims:
            by_workload.setdefault(ctx.workload_name(victim.pod), []).append(victim.pod)
        for name, pods in by_workload.items():
            finding = _judge(ctx, fault, name, pods)
            if finding is not None:
                findings.append(finding)
    return findings


def _judge(ctx: FindingContext, fault: FaultInstance, name: str, pods: list[str]) -> Finding | None:
    member = ctx.member_of(name)
    steps = ctx.serving_steps(member)
    before = count_at(steps, fault.begin_ns)
    if before - 1 < 1:
        return None  # one replica: any disruption is a full outage (single-replica)
    span = ctx.fault_span(fault.name)
    short = ctx.shortfall(steps, before - 1, *span)
    if not short.intervals:
        return None
    explained = ctx.failures.where(short.hits)
    workload = ctx.workload(pods[0])
    budgets = ctx.manifests.budgets_for(workload) if workload else ()
    ready = ctx.shortfall(ctx.ready_steps(member), 0, *span)
    node = fault.victims[0].node or "a node"
    lines = [f"{fault.name} drained {node} at {ctx.at(fault.begin_ns)}: it evicted {len(pods)} pod(s) of {name} "
             f"({', '.join(pods)}); their ready pods fell to {ready.lowest}.",
             f"{ctx.routing_source.capitalize()} reached {short.lowest} of the {before} pods it had reached before: "
             f"fewer than {before - 1} (all but one) for {short.seconds:.3f} s, from {ctx.at(short.intervals[0][0])} "
             f"to {ctx.at(short.intervals[-1][1])}.",
             (f"{len(explained)} requests failed meanwhile ({outcome_text(explained.outcomes())})." if len(explained)
              else "No request failed meanwhile: the capacity was lost, users did not notice."),
             _budget_line(workload, budgets, _refusals(ctx, fault))]
    level, basis = _confidence(ctx, len(explained), workload is not None)
    return Finding(
        rule=RULE_ID,
        headline=f"draining {node} left {short.lowest} of {before} pods of {name} serving"
                 + (f"; {len(explained)} requests failed meanwhile" if len(explained) else ""),
        workload=name,
        evidence=evidence(explained, len(ctx.failures), pods=tuple(pods), faults=(fault.name,), lines=tuple(lines),
                          measured={"serving_before": float(before), "serving_lowest": float(short.lowest),
                                    "ready_lowest": float(ready.lowest), "needed": float(before - 1),
                                    "short_s": round(short.seconds, 6)}),
        mechanism=MECHANISM,
        recommendation=("Add a PodDisruptionBudget with maxUnavailable: 1 so a drain evicts one pod at a time and "
                        "waits for its replacement to be Ready" if not budgets else
                        f"Tighten PodDisruptionBudget {budgets[0].name} to maxUnavailable: 1") + "; give the "
                       "workload at least two replicas, or a drain waits for ever.",
        snippet=_snippet(workload, budgets, pods[0]),
        confidence=level, confidence_basis=basis,
        references=("https://kubernetes.io/docs/tasks/run-application/configure-pdb/",),
    )


def _confidence(ctx: FindingContext, explained: int, manifests: bool) -> tuple[str, str]:
    seen = f"pod readiness and {ctx.routing_source} were observed"
    if explained:
        level, basis = share_confidence(explained, len(ctx.failures), observed=True, caveat=seen)
    else:
        level, basis = LOW, f"no failed request fell inside the shortfall; {seen}"
    if not manifests:
        return lower(level), basis + "; the manifests were not available to check for a budget"
    return level, basis


def _refusals(ctx: FindingContext, fault: FaultInstance) -> int:
    begin, end = ctx.fault_span(fault.name)
    kind = ctx.events["kind"].astype(str)
    ts = ctx.events["ts_ns"]
    return int(((kind == EventKind.EVICTION_REFUSED.value) & (ts >= begin) & (ts < end)).sum())


def _budget_line(workload: WorkloadFacts | None, budgets: tuple[BudgetFacts, ...], refused: int) -> str:
    if workload is None:
        return "The manifests were not available: whether a PodDisruptionBudget covers the pods is unknown."
    if not budgets:
        return f"No PodDisruptionBudget selects the pods of {workload.describe}; no eviction was refused."
    budget = budgets[0]
    rule = f"minAvailable: {budget.min_available}" if budget.min_available else \
        f"maxUnavailable: {budget.max_unavailable}"
    return (f"PodDisruptionBudget {budget.name} ({rule}) covers them but allowed it "
            f"({refused} eviction(s) refused during the drain).")


def _snippet(workload: WorkloadFacts | None, budgets: tuple[BudgetFacts, ...], pod: str) -> str:
    if budgets:
        budget = budgets[0]
        name, labels = budget.name, dict(budget.selector or {})
        spec: dict[str, object] = {"maxUnavailable": 1, **({"minAvailable": None} if budget.min_available else {})}
    else:
        name = workload.name if workload else pod.rsplit("-", 2)[0]
        labels = dict(workload.labels or {}) if workload else {"app": name}
        spec = {"maxUnavailable": 1}
    document = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
                "spec": {**spec, "selector": {"matchLabels": labels}}}
    return render(document, "One pod of the workload may be disrupted at a time (drains, node upgrades).")


RULE: Final = Rule(RULE_ID, "Drain without a PodDisruptionBudget, or one that allows it", evaluate)
