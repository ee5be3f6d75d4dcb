"""One apply's manifests sorted by what the embedded cluster does with them, and the checks that need them all
(a claim a pod names must be among them or already applied)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from chaoskit.cluster.local.budgets import Budget, parse_budget
from chaoskit.cluster.local.objects import ServiceSpec, Workload
from chaoskit.cluster.local.parse import parse_service, parse_workload
from chaoskit.cluster.local.volumes import ClaimSpec, ClaimStore, StorageClassSpec, parse_claim, parse_storage_class
from chaoskit.cluster.manifests import describe
from chaoskit.cluster.protocol import Manifest, ManifestError

IGNORED_KINDS: Final = frozenset({"Namespace", "ServiceAccount", "Role", "ClusterRole", "RoleBinding",
                                  "ClusterRoleBinding", "ConfigMap"})
"""Kinds with no effect on what the local backend runs: accepted and ignored without a warning."""
WORKLOADS: Final = frozenset({"Deployment", "StatefulSet", "Pod"})


@dataclass
class Parsed:
    workloads: list[Workload] = field(default_factory=list)
    services: list[ServiceSpec] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    classes: list[StorageClassSpec] = field(default_factory=list)
    claims: list[ClaimSpec] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Kinds ignored with a warning (unknown to the local backend)."""
    where: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """(kind, namespace, name) -> `file: Kind namespace/name`, for messages."""

    def describe(self, kind: str, namespace: str, name: str) -> str:
        return self.where.get((kind, namespace, name), f"{kind} {namespace}/{name}")


def parse_manifests(manifests: Sequence[Manifest]) -> Parsed:
    found = Parsed()
    for manifest in manifests:
        kind = manifest.get("kind")
        meta = manifest.get("metadata")
        if isinstance(meta, Mapping):
            found.where[(str(kind), str(meta.get("namespace", "default")), str(meta.get("name")))] = describe(manifest)
        if kind in WORKLOADS:
            found.workloads.append(parse_workload(manifest))
        elif kind == "Service":
            found.services.append(parse_service(manifest))
        elif kind == "PodDisruptionBudget":
            found.budgets.append(parse_budget(manifest))
        elif kind == "StorageClass":
            found.classes.append(parse_storage_class(manifest))
        elif kind == "PersistentVolumeClaim":
            found.claims.append(parse_claim(manifest))
        elif kind == "PersistentVolume":
            raise ManifestError(f"{describe(manifest)}: static PersistentVolumes are not modelled by the local backend",
                                hint="use PersistentVolumeClaims (with a StorageClass: rancher.io/local-path for "
                                     "node-local volumes), or --backend kube")
        elif kind not in IGNORED_KINDS:
            found.warnings.append(f"{describe(manifest)}: kind {kind} is ignored by the local backend")
    return found


def check_claims(found: Parsed, store: ClaimStore) -> None:
    """Every claim a pod names exists (here or already applied) and asks for a known StorageClass."""
    declared = {c.name for c in found.classes}

    def known_class(name: str | None, where: str) -> None:
        if name is not None and name not in declared:
            store.resolve_class(name, where)  # raises with a hint when there is no such class

    for claim in found.claims:
        known_class(claim.storage_class, found.describe("PersistentVolumeClaim", claim.namespace, claim.name))
    for workload in found.workloads:
        kind = "StatefulSet" if workload.stateful else "Deployment" if workload.controller else "Pod"
        where = found.describe(kind, workload.namespace, workload.name)
        for template in workload.stateful.claim_templates if workload.stateful else ():
            known_class(template.storage_class, f"{where}: volumeClaimTemplates {template.name}")
        names = {c.name for c in found.claims if c.namespace == workload.namespace}
        for volume in workload.template.volumes:
            if volume.claim and volume.claim not in names and (workload.namespace, volume.claim) not in store.claims:
                raise ManifestError(
                    f"{where}: volume {volume.name!r} names PersistentVolumeClaim {volume.claim!r}, which is not in "
                    "the manifests", hint="add the PersistentVolumeClaim to the manifests")
