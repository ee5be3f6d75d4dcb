"""slow-replacement: a replacement pod took long to become Ready, and it mattered (it broke the recovery SLO, or
the failures lasted until it was Ready); the time is split into waiting to be scheduled, starting (image pull
and container start) and becoming Ready, and the dominant part names the cause.

A readiness wait dominated by the probe's ``initialDelaySeconds`` (and ``periodSeconds`` times
``successThreshold - 1``) is the probe's; one the probe does not explain is the application's own start,
which no manifest change shortens: no finding then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from chaoskit.analysis.findings.context import FindingContext, evidence
from chaoskit.analysis.findings.model import HIGH, MEDIUM, Finding
from chaoskit.analysis.findings.registry import Rule
from chaoskit.analysis.findings.snippets import containers_patch, render, serving_containers, workload_patch
from chaoskit.analysis.frames import NS_PER_S
from chaoskit.analysis.recovery import FaultRecovery
from chaoskit.analysis.templates import WorkloadFacts
from chaoskit.vocab import EventKind

RULE_ID: Final = "slow-replacement"
MIN_SLOW_S: Final = 2.0
"""A replacement Ready sooner than this is not slow, whatever the outage it ended."""
DOMINANT: Final = 0.5
"""A stage is the cause when it takes at least this share of the replacement's time."""
STAGES: Final = ("scheduling", "starting", "readiness")
MECHANISMS: Final = {
    "readiness": "A new pod receives traffic only once its readiness probe has succeeded (successThreshold "
                 "times); the kubelet runs the first probe after initialDelaySeconds and then every periodSeconds. "
                 "A probe that waits longer than the application needs to start keeps a ready replacement out of "
                 "the Service for the difference.",
    "starting": "Between being bound to a node and running, the kubelet pulls the image (always with "
                "imagePullPolicy: Always, or a :latest or untagged image) and creates the containers. A large "
                "image, a slow registry or a cold node makes every replacement wait for the pull.",
    "scheduling": "A replacement pod waits Pending until the scheduler finds a node with room that its "
                  "constraints allow (resources, node selectors, topology spread, cordoned nodes). With no "
                  "spare capacity the Service runs short of replicas for that long.",
}


@dataclass(frozen=True)
class _Slow:
    fault: FaultRecovery
    pod: str
    stages: dict[str, float]
    why: str
    """Why it mattered: the recovery SLO, or the outage it ended."""


def evaluate(ctx: FindingContext) -> list[Finding]:
    groups: dict[tuple[str, str], list[_Slow]] = {}
    for fault in ctx.faults:
        slow = _slow(ctx, fault)
        if slow is not None:
            cause = max(slow.stages, key=lambda k: slow.stages[k])
            groups.setdefault((ctx.workload_name(slow.pod), cause), []).append(slow)
    findings = []
    for (_, cause), slows in groups.items():
        finding = _finding(ctx, cause, slows)
        if finding is not None:
            findings.append(finding)
    return findings


def _slow(ctx: FindingContext, fault: FaultRecovery) -> _Slow | None:
    ready_s = fault.replacement_ready_s
    if ready_s is None or not fault.replacements or ready_s < MIN_SLOW_S:
        return None
    why = ""
    if ctx.slo.recovery_s is not None and ready_s > ctx.slo.recovery_s:
        why = f"the recovery SLO is {ctx.slo.recovery_s:g} s"
    elif fault.failures and fault.traffic_recovered_s is not None and fault.traffic_recovered_s >= ready_s:
        why = (f"its {fault.failures} failed requests went on until traffic recovered at "
               f"{fault.traffic_recovered_s:.3f} s, after the replacement was Ready")
    if not why:
        return None
    pod = fault.replacements[-1]  # the last needed replacement: the one that stopped the clock
    stages = _stages(ctx, fault, pod)
    total = sum(stages.values())
    if total < MIN_SLOW_S or max(stages.values()) < DOMINANT * total:
        return None  # quick once it existed: the wait was before it was created (eviction, detection, a budget)
    return _Slow(fault, pod, stages, why)


def _stages(ctx: FindingContext, fault: FaultRecovery, pod: str) -> dict[str, float]:
    """Seconds spent waiting to be scheduled, starting, and becoming Ready, from the replacement's creation (a pod
    created late, such as one evicted from a failed node after its tolerations ran out, did not wait in the
    scheduler before it existed)."""
    history = ctx.timeline.pods[pod]
    created = history.appeared_in(fault.begin_ns, None, recreated=True) or fault.begin_ns
    bound = history.first_scheduled_after(created) or created
    ready = history.first_ready_after(bound) or bound
    rows = ctx.events.loc[(ctx.events["kind"].astype(str) == EventKind.POD_RUNNING.value)
                          & (ctx.events["name"].astype(str) == pod), "ts_ns"].to_numpy(dtype=np.int64)
    running = int(rows[(rows >= bound) & (rows <= ready)].min()) if ((rows >= bound) & (rows <= ready)).any() \
        else bound
    return {"scheduling": max(0, bound - created) / NS_PER_S, "starting": (running - bound) / NS_PER_S,
            "readiness": (ready - running) / NS_PER_S}


def _probe_floor(workload: WorkloadFacts | None) -> tuple[float, str]:
    """The least time the readiness probe allows before Ready, and how it is set."""
    probes = [c.readiness for c in (workload.containers if workload else ()) if c.readiness]
    if not probes:
        return 0.0, ""
    probe = max(probes, key=lambda p: p.initial_delay_s + (p.success_threshold - 1) * p.period_s)
    floor = probe.initial_delay_s + (probe.success_threshold - 1) * probe.period_s
    return floor, (f"initialDelaySeconds {probe.initial_delay_s:g}, periodSeconds {probe.period_s:g}, "
                   f"successThreshold {probe.success_threshold}")


def _finding(ctx: FindingContext, cause: str, slows: list[_Slow]) -> Finding | None:
    workload = ctx.workload(slows[0].pod)
    waits = [s.stages[cause] for s in slows]
    floor, probe_text = _probe_floor(workload)
    if cause == "readiness" and floor < DOMINANT * max(waits):
        return None  # the application's own start: no manifest change shortens it
    shares = [s.stages[cause] / sum(s.stages.values()) for s in slows]
    explains_probe = cause != "readiness" or floor >= 0.8 * min(waits)
    level = HIGH if min(shares) >= 0.8 and explains_probe and workload is not None else MEDIUM
    basis = (f"{cause} took {min(shares) * 100:.0f} % or more of every slow replacement's time "
             f"({len(slows)} fault(s)); the pod events were observed")
    if cause == "readiness":
        basis += f"; the probe settings account for {floor:g} s of at least {min(waits):.3f} s"
    failed = np.zeros(len(ctx.failures), dtype=bool)
    for slow in slows:
        if slow.fault.failures:
            span = ctx.fault_span(slow.fault.name)
            failed |= ctx.failures.started_in(span[0], span[1] - 1)
    lines = [f"{s.fault.name} at {ctx.at(s.fault.begin_ns)}: replacement {s.pod} scheduled "
             f"{s.stages['scheduling']:.3f} s after it was created, running {s.stages['starting']:.3f} s later, "
             f"Ready {s.stages['readiness']:.3f} s after that ({s.fault.replacement_ready_s:.3f} s after the "
             f"fault); {s.why}."
             for s in slows[:6]]
    if probe_text:
        lines.append(f"{workload.describe if workload else 'The workload'}'s readiness probe: {probe_text}: no "
                     f"pod can be Ready sooner than {floor:g} s after its container started.")
    return Finding(
        rule=RULE_ID,
        headline=f"replacements took up to {max(s.fault.replacement_ready_s or 0 for s in slows):.1f} s to be "
                 f"Ready, {max(waits):.1f} s of it in {cause}",
        workload=ctx.workload_name(slows[0].pod),
        evidence=evidence(ctx.failures.where(failed), len(ctx.failures), pods=tuple(s.pod for s in slows),
                          faults=tuple(s.fault.name for s in slows),
                          measured={f"{stage}_max_s": round(max(s.stages[stage] for s in slows), 6)
                                    for stage in STAGES} | {"probe_floor_s": floor},
                          lines=tuple(lines)),
        mechanism=MECHANISMS[cause],
        recommendation=_recommendation(cause),
        snippet=_snippet(cause, workload, slows[0].pod),
        confidence=level, confidence_basis=basis,
    )


def _recommendation(cause: str) -> str:
    if cause == "readiness":
        return ("Start probing at once (initialDelaySeconds: 0) and often (periodSeconds: 1 or 2); if the "
                "application needs a long start, give it a startupProbe instead of a long initial delay.")
    if cause == "starting":
        return ("Pull only when the image is missing (imagePullPolicy: IfNotPresent with a pinned tag or digest), "
                "keep the image small, or pre-pull it on every node.")
    return ("Keep room for a replacement: spare capacity (an overprovisioning placeholder at low priority), "
            "requests that fit the nodes, and constraints that leave a node for it while another is cordoned.")


def _snippet(cause: str, workload: WorkloadFacts | None, pod: str) -> str:
    fallback = pod.rsplit("-", 2)[0]
    names = serving_containers(workload)
    if cause == "readiness":
        names = [c.name for c in workload.containers if c.readiness] if workload else names
        probe = {"readinessProbe": {"initialDelaySeconds": 0, "periodSeconds": 1}}
        return render(workload_patch(workload, {"containers": containers_patch(names, probe)}, fallback=fallback),
                      "Probe from the start, every second: Ready as soon as the application answers.")
    if cause == "starting":
        pull = {"imagePullPolicy": "IfNotPresent"}
        return render(workload_patch(workload, {"containers": containers_patch(names, pull)}, fallback=fallback),
                      "Use a pinned tag or digest: with :latest the pull policy defaults to Always.")
    return ""


RULE: Final = Rule(RULE_ID, "Slow replacement: the replacement pod took long to become Ready", evaluate)
