"""single-replica: the workload runs one pod, so a fault left it with no ready pod and requests failed until
the replacement (or the restarted container) was Ready again."""

from __future__ import annotations

from typing import Final

from chaoskit.analysis.findings.context import FindingContext, evidence, outcome_text
from chaoskit.analysis.findings.model import Finding, share_confidence
from chaoskit.analysis.findings.registry import Rule
from chaoskit.analysis.findings.snippets import render, workload_patch
from chaoskit.analysis.templates import WorkloadFacts

RULE_ID: Final = "single-replica"
MECHANISM: Final = (
    "With one replica there is no other endpoint: from the moment the pod is Terminating (or dies) until its "
    "replacement passes its readiness probe, the Service has no ready endpoint. kube-proxy then rejects (or "
    "drops) every new connection, so any pod fault is a full outage.")


def evaluate(ctx: FindingContext) -> list[Finding]:
    if not ctx.timeline.faults:
        return []
    findings = []
    for name in _single_workloads(ctx):
        finding = _judge(ctx, name)
        if finding is not None:
            findings.append(finding)
    return findings


def _single_workloads(ctx: FindingContext) -> list[str]:
    """Workloads (by :meth:`FindingContext.workload_name`) of the faults' victims that run one pod: as the
    manifests say, or, without them, when no more than one of its pods was ever ready at once."""
    names: dict[str, bool] = {}
    for fault in ctx.timeline.faults:
        for victim in fault.victims:
            name = ctx.workload_name(victim.pod)
            if name in names:
                continue
            workload = ctx.workload(victim.pod)
            if workload is not None:
                names[name] = workload.replicas == 1
            else:
                names[name] = max((c for _, c in ctx.ready_steps(ctx.member_of(name))), default=0) <= 1
    return [name for name, single in names.items() if single]


def _judge(ctx: FindingContext, name: str) -> Finding | None:
    short = ctx.shortfall(ctx.serving_steps(ctx.member_of(name)), 1, ctx.timeline.faults[0].begin_ns, ctx.run_end_ns)
    if not short.hits.any():
        return None
    fails, dark = ctx.failures, short.intervals
    explained = fails.where(short.hits)
    pod = next(v.pod for f in ctx.timeline.faults for v in f.victims if ctx.workload_name(v.pod) == name)
    workload = ctx.workload(pod)
    dark_s = short.seconds
    still = " (still none at the end of the run)." if dark[-1][1] >= ctx.run_end_ns else "."
    lines = [f"{ctx.routing_source.capitalize()} reached no pod of {name} for {dark_s:.3f} s in {len(dark)} "
             f"interval(s) after the first fault, the first from {ctx.at(dark[0][0])}{still}",
             f"{len(explained)} requests failed meanwhile ({outcome_text(explained.outcomes())}), from "
             f"{ctx.at(int(explained.start.min()))} to {ctx.at(int(explained.start.max()))}."]
    lines.append(f"{workload.describe} asks for 1 replica." if workload else
                 "The manifests were not available: no more than one pod was ever ready at once.")
    level, basis = share_confidence(len(explained), len(fails), observed=True,
                                    caveat=f"{ctx.routing_source} was observed")
    return Finding(
        rule=RULE_ID,
        headline=f"{name} runs one pod: {len(explained)} requests failed in {dark_s:.1f} s with no pod to serve",
        workload=name,
        evidence=evidence(explained, len(fails), pods=(pod,), measured={"without_ready_pod_s": round(dark_s, 6)},
                          faults=tuple(f.name for f in ctx.timeline.faults
                                       if any(ctx.workload_name(v.pod) == name for v in f.victims)),
                          lines=tuple(lines)),
        mechanism=MECHANISM,
        recommendation=("Run at least two replicas (with a PodDisruptionBudget of maxUnavailable: 1 and a topology "
                        "spread over nodes) so one pod serves while the other is replaced."
                        if not workload or workload.kind != "Pod" else
                        "Run the pod under a Deployment with at least two replicas: a bare Pod is never replaced."),
        snippet=_snippet(workload, pod),
        confidence=level, confidence_basis=basis,
    )


def _snippet(workload: WorkloadFacts | None, pod: str) -> str:
    if workload is not None and workload.kind == "Pod":
        return ""  # a bare Pod becomes a Deployment: a new object, not a patch
    return render(workload_patch(workload, {}, spec={"replicas": 2}, fallback=pod.rsplit("-", 2)[0]),
                  "One pod serves while the other is replaced.")


RULE: Final = Rule(RULE_ID, "Single replica: any pod fault is a full outage", evaluate)
