"""StatefulSets on the embedded cluster: the spec's own fields, and what the controller does next.

As Kubernetes' StatefulSet controller: pods are ``<name>-0`` .. ``<name>-<replicas-1>``; a missing pod is created
again under the same name, but only once the old one is gone from the API (never two pods with one identity:
a pod stuck Terminating on a failed node is not replaced until its node comes back). ``OrderedReady`` (the
default) creates one pod at a time in ordinal order and waits while any lower ordinal is not Running and Ready
or is terminating; ``Parallel`` creates every missing pod at once. Each pod gets one claim per
``volumeClaimTemplates`` entry, ``<template>-<name>-<ordinal>``, created with the pod and kept when the pod or
the StatefulSet is deleted (the default retention ``Retain``; ``Delete`` is not modelled). Each pod carries the
labels the controller adds, ``statefulset.kubernetes.io/pod-name`` and ``apps.kubernetes.io/pod-index``, so a
fault can aim at one identity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from chaoskit.cluster.local.objects import ClaimTemplate, FieldReader, PodTemplate, StatefulSpec, Workload
from chaoskit.cluster.local.pod import LocalPod
from chaoskit.cluster.local.volumes import claim_storage_class
from chaoskit.cluster.protocol import PodPhase

STATEFUL_FIELDS: Final = frozenset({
    "replicas", "selector", "template", "serviceName", "podManagementPolicy", "volumeClaimTemplates",
    "updateStrategy", "revisionHistoryLimit", "persistentVolumeClaimRetentionPolicy",
})


def parse_stateful(read: FieldReader, spec: Mapping[str, Any]) -> StatefulSpec:
    """The StatefulSet-only fields of ``spec`` (selector, replicas and template are read like a Deployment's)."""
    read.only(spec, STATEFUL_FIELDS, "spec")
    policy = spec.get("podManagementPolicy") or "OrderedReady"
    if policy not in ("OrderedReady", "Parallel"):
        raise read.fail("spec.podManagementPolicy", f"unknown policy {policy!r}", hint="OrderedReady or Parallel")
    retention = read.mapping(spec.get("persistentVolumeClaimRetentionPolicy"),
                             "spec.persistentVolumeClaimRetentionPolicy")
    for key in ("whenDeleted", "whenScaled"):
        if (retention.get(key) or "Retain") != "Retain":
            raise read.fail(f"spec.persistentVolumeClaimRetentionPolicy.{key}",
                            "only Retain (the default: claims outlive their pods) is modelled by the local backend",
                            hint="remove it, or run this experiment with --backend kube")
    templates: list[ClaimTemplate] = []
    for i, item in enumerate(read.items(spec.get("volumeClaimTemplates"), "spec.volumeClaimTemplates")):
        path = f"spec.volumeClaimTemplates[{i}]"
        entry = read.mapping(item, path)
        name = read.string(read.mapping(entry.get("metadata"), f"{path}.metadata").get("name"),
                           f"{path}.metadata.name")
        if name in {t.name for t in templates}:
            raise read.fail(f"{path}.metadata.name", f"claim template {name!r} is declared twice")
        templates.append(ClaimTemplate(name, claim_storage_class(read, entry.get("spec"), f"{path}.spec")))
    return StatefulSpec(tuple(templates), parallel=policy == "Parallel")


@dataclass(frozen=True, slots=True)
class StatefulStep:
    """What the controller does now: pods to create (by name) and pods to delete (scale-down)."""

    create: tuple[str, ...] = ()
    delete: tuple[LocalPod, ...] = ()


POD_NAME_LABEL: Final = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL: Final = "apps.kubernetes.io/pod-index"


def ordinal_name(workload: Workload, ordinal: int) -> str:
    return f"{workload.name}-{ordinal}"


def pod_template(workload: Workload, name: str) -> PodTemplate:
    """The template of pod ``name``: the StatefulSet's, plus the identity labels its controller adds."""
    labels = {**workload.template.labels, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(_ordinal(name))}
    return replace(workload.template, labels=labels)


def next_step(workload: Workload, pods: Iterable[LocalPod]) -> StatefulStep:
    """The controller's next step, given every pod of ``workload`` still in the API (terminating ones too)."""
    assert workload.stateful is not None
    by_name = {p.name: p for p in pods if not p.deleted}
    wanted = [ordinal_name(workload, i) for i in range(workload.replicas)]
    condemned = sorted((p for n, p in by_name.items() if n not in wanted),
                       key=lambda p: _ordinal(p.name), reverse=True)
    if workload.stateful.parallel:
        return StatefulStep(create=tuple(n for n in wanted if n not in by_name),
                            delete=tuple(p for p in condemned if not p.terminating))
    for name in wanted:
        pod = by_name.get(name)
        if pod is None:
            return StatefulStep(create=(name,))
        if pod.terminating or not (pod.phase is PodPhase.RUNNING and pod.ready):
            return StatefulStep()  # OrderedReady: wait for this ordinal before touching the next
    if any(p.terminating for p in condemned):
        return StatefulStep()
    return StatefulStep(delete=tuple(condemned[:1]))


def _ordinal(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1
