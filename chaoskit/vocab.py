"""The words every layer shares: Service kinds, event kinds and the event record, load origins, label
selectors and the expected replica count of a target.

A leaf: it imports nothing from chaoskit, so the pure layers (``experiment``, ``analysis``) and the
cluster backends can all use it without depending on each other.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final


class ServiceKind(enum.StrEnum):
    """How a client reaches a Service."""

    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    HEADLESS = "Headless"
    LOAD_BALANCER = "LoadBalancer"


class LoadOrigin(enum.StrEnum):
    """Where ClusterIP load runs: this process, an in-cluster Job, or ``auto`` (the Job only when the
    ClusterIP does not answer here)."""

    AUTO = "auto"
    LOCAL = "local"
    IN_CLUSTER = "in-cluster"


class EventKind(enum.StrEnum):
    POD_ADDED = "pod_added"
    POD_SCHEDULED = "pod_scheduled"
    POD_RUNNING = "pod_running"
    POD_READY = "pod_ready"
    POD_NOT_READY = "pod_not_ready"
    POD_TERMINATING = "pod_terminating"
    POD_DELETED = "pod_deleted"
    CONTAINER_DIED = "container_died"
    CONTAINER_RESTARTED = "container_restarted"
    ENDPOINT_ADDED = "endpoint_added"
    """A pod became a ready endpoint of a Service (control plane: EndpointSlice)."""
    ENDPOINT_REMOVED = "endpoint_removed"
    PROXY_SYNCED = "proxy_synced"
    """The data path (local proxy / kube-proxy) now forwards to exactly ``detail``'s endpoint set."""
    NODE_READY = "node_ready"
    NODE_NOT_READY = "node_not_ready"
    NODE_CORDONED = "node_cordoned"
    NODE_UNCORDONED = "node_uncordoned"
    EVICTION_REFUSED = "eviction_refused"
    """The Eviction API refused a pod (429: a PodDisruptionBudget would be broken); ``detail`` says which."""
    FAULT_BEGIN = "fault_begin"
    FAULT_END = "fault_end"
    PHASE = "phase"
    MARKER = "marker"
    POD_UNSCHEDULABLE = "pod_unschedulable"
    """The scheduler found no node for a pod; ``detail`` says why (e.g. its claim's volume is pinned to a node
    that is down). Emitted once per pod and reason."""


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """One state change. Flat on purpose: a list of these is one events.parquet table."""

    ts_ns: int
    kind: EventKind
    namespace: str = ""
    name: str = ""
    """Pod, node, fault or phase name, depending on ``kind``."""
    node: str = ""
    ip: str = ""
    service: str = ""
    detail: str = ""
    source_ts_ns: int | None = None
    """The cluster's own timestamp (API server), when it has one: clock skew stays visible."""


EVENT_COLUMNS: Final = tuple(f.name for f in dataclasses.fields(ClusterEvent))
"""The columns of events.parquet, in order."""
OPTIONAL_EVENT_COLUMNS: Final = ("source_ts_ns",)
"""Columns the analysis does without (tables written by older versions, or built by hand)."""
REQUIRED_EVENT_COLUMNS: Final = tuple(c for c in EVENT_COLUMNS if c not in OPTIONAL_EVENT_COLUMNS)

CLUSTER_SCOPED_KINDS: Final = frozenset({
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "PriorityClass", "IngressClass", "RuntimeClass", "CSIDriver", "CSINode",
    "VolumeAttachment", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService",
    "CertificateSigningRequest", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
})
"""Kinds without a namespace: ``kubectl apply -n`` leaves them alone, and so does chaoskit."""

WORKLOAD_KINDS: Final = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job"})
"""Kinds whose ``spec.template`` makes pods."""
REPLICATED_KINDS: Final = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})
"""Workload kinds with a ``spec.replicas`` (default 1)."""


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, Any] | None) -> bool:
    """Equality-based label selection, as ``matchLabels``: every selector pair is among the labels.

    Values compare as strings (YAML may read ``version: 2`` as a number). An empty selector matches
    everything, as in Kubernetes.
    """
    found = labels or {}
    return all(k in found and str(found[k]) == str(v) for k, v in selector.items())


def selector_text(selector: Mapping[str, str]) -> str:
    """``app=web,tier=front`` (sorted): how a selector is written in messages and API queries."""
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def pod_template_labels(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The labels the pods of ``manifest`` get: a Pod's own, a workload's template's; None otherwise."""
    kind = manifest.get("kind")
    if kind == "Pod":
        return _mapping(_mapping(manifest.get("metadata")).get("labels"))
    if kind in WORKLOAD_KINDS:
        template = _mapping(_mapping(manifest.get("spec")).get("template"))
        return _mapping(_mapping(template.get("metadata")).get("labels"))
    return None


def expected_replicas(manifests: Iterable[Mapping[str, Any]], selector: Mapping[str, str]) -> int:
    """The number of Ready pods the manifests ask for among those ``selector`` matches.

    Deployments, StatefulSets and ReplicaSets count their ``spec.replicas`` (default 1), a bare Pod counts
    one; DaemonSets and Jobs are not counted (their pod count is not in the manifest).
    """
    total = 0
    for manifest in manifests:
        labels = pod_template_labels(manifest)
        if labels is None or not selector_matches(selector, labels):
            continue
        if manifest.get("kind") == "Pod":
            total += 1
        elif manifest.get("kind") in REPLICATED_KINDS:
            replicas = _mapping(manifest.get("spec")).get("replicas", 1)
            total += replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else 1
    return total


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
