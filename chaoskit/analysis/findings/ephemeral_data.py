"""ephemeral-data: data the experiment expected to outlive the pod was lost with it: a marker on an emptyDir
(or on a hostPath read back on another node) that was expected to survive was gone after the fault."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from chaoskit.analysis.findings.context import FindingContext
from chaoskit.analysis.findings.model import HIGH, MEDIUM, Evidence, Finding
from chaoskit.analysis.findings.registry import Rule
from chaoskit.analysis.findings.snippets import render, workload_patch
from chaoskit.analysis.templates import WorkloadFacts
from chaoskit.checks.results import DataCheckResult

RULE_ID: Final = "ephemeral-data"
MECHANISMS: Final = {
    "emptyDir": "An emptyDir volume is created with the pod and deleted with it: a replacement pod gets a new, "
                "empty one, even on the same node. Only a container restart inside the same pod keeps it.",
    "hostPath": "A hostPath volume is a directory of one node: a replacement scheduled on another node sees "
                "that node's directory, not the data the old pod wrote.",
}


def evaluate(ctx: FindingContext) -> list[Finding]:
    lost: dict[str, list[DataCheckResult]] = {}
    for row in ctx.data:
        surprising = row.expected == "survives" and not row.survived and row.trigger == "pod-replaced"
        if surprising and (row.volume_type == "emptyDir" or (row.volume_type == "hostPath"
                                                              and row.placement == "other-node")):
            lost.setdefault(row.volume, []).append(row)
    return [_finding(ctx, volume, rows) for volume, rows in lost.items()]


def _finding(ctx: FindingContext, volume: str, rows: Sequence[DataCheckResult]) -> Finding:
    checked = [r for r in ctx.data if r.volume == volume and r.trigger == "pod-replaced"]
    kind = rows[0].volume_type
    workload = ctx.workload(rows[0].victim)
    lines = [f"{r.fault}: a marker written by {r.victim} on {r.victim_node} was gone for {r.replacement} on "
             f"{r.replacement_node} ({r.placement})." for r in rows[:6]]
    lines.append(f"{len(rows)} of {len(checked)} checks of volume {volume} ({kind}) lost the marker; the experiment "
                 "expected it to survive.")
    level = HIGH if len(rows) == len(checked) else MEDIUM
    return Finding(
        rule=RULE_ID,
        headline=f"volume {volume} ({kind}) lost its data with the pod in {len(rows)} of {len(checked)} checks",
        workload=ctx.workload_name(rows[0].victim),
        evidence=Evidence(of_failures=len(ctx.failures), pods=tuple(sorted({r.victim for r in rows})),
                          measured={"checks": float(len(checked)), "lost": float(len(rows))}, lines=tuple(lines)),
        mechanism=MECHANISMS[kind],
        recommendation=f"Keep {volume} on a PersistentVolumeClaim"
                       + (" (volumeClaimTemplates: one volume per replica)." if workload and
                          workload.kind == "StatefulSet" else "; with more than one replica, use a StatefulSet "
                          "with volumeClaimTemplates or a ReadWriteMany storage class."),
        snippet=_snippet(workload, volume, rows[0].victim),
        confidence=level,
        confidence_basis=f"{len(rows)} of {len(checked)} marker checks on the volume lost the marker (observed)",
    )


def _snippet(workload: WorkloadFacts | None, volume: str, pod: str) -> str:
    name = workload.name if workload else pod.rsplit("-", 2)[0]
    claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if workload is not None and workload.kind == "StatefulSet":
        patch = workload_patch(workload, {}, spec={"volumeClaimTemplates": [{"metadata": {"name": volume},
                                                                            "spec": claim}]})
        return render(patch, f"One claim per replica (size it for your data); remove {volume} from the pod "
                             "template's volumes: the mounts then use the claim.")
    source = {"name": volume, "persistentVolumeClaim": {"claimName": f"{name}-{volume}"},
              "emptyDir": None, "hostPath": None}
    patch = workload_patch(workload, {"volumes": [source]}, fallback=name)
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": f"{name}-{volume}"},
           "spec": claim}
    return render(patch, f"The volume {volume} outlives the pod (size the claim for your data).") + "---\n" + \
        render(pvc)


RULE: Final = Rule(RULE_ID, "Data in an emptyDir (or a node's hostPath) expected to outlive the pod", evaluate)
