"""Recommended changes as YAML the user merges into a manifest: patches keyed by the object's kind and name,
with lists of containers merged by ``name`` (as ``kubectl patch`` and kustomize merge them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from chaoskit.analysis.templates import WorkloadFacts

API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "ReplicaSet": "apps/v1", "DaemonSet": "apps/v1",
                "Job": "batch/v1", "Pod": "v1", "Service": "v1", "PodDisruptionBudget": "policy/v1"}


def render(document: Mapping[str, Any], comment: str = "") -> str:
    """YAML of one object, keys in the order given; ``comment`` becomes leading ``#`` lines."""
    text = yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False, width=100)
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + text


def workload_patch(workload: WorkloadFacts | None, pod_spec: Mapping[str, Any], *,
                   spec: Mapping[str, Any] | None = None, fallback: str = "my-app") -> dict[str, Any]:
    """A patch of a workload's pod template (a bare Pod's own spec) plus, optionally, its ``spec`` fields."""
    kind = workload.kind if workload else "Deployment"
    name = workload.name if workload else fallback
    body: dict[str, Any] = dict(spec or {})
    if kind == "Pod":
        body.update(pod_spec)
    elif pod_spec:
        body["template"] = {"spec": dict(pod_spec)}
    return {"apiVersion": API_VERSIONS.get(kind, "apps/v1"), "kind": kind, "metadata": {"name": name},
            "spec": body}


def serving_containers(workload: WorkloadFacts | None) -> list[str]:
    """The containers that serve traffic (those with ports; all of them when none declares one)."""
    if workload is None or not workload.containers:
        return ["my-container"]
    with_ports = [c.name for c in workload.containers if c.ports]
    return with_ports or [c.name for c in workload.containers]


def containers_patch(names: list[str], fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, **fields} for name in names]


def merge(base: Any, patch: Any) -> Any:
    """Merge ``patch`` into ``base`` the way the snippets mean it: mappings key by key, lists of mappings
    with a ``name`` item by item by name (new names appended), anything else replaced; None deletes a key."""
    if isinstance(base, Mapping) and isinstance(patch, Mapping):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    if _named_list(base) and _named_list(patch):
        changes = {item["name"]: item for item in patch}
        known = {item["name"] for item in base}
        kept = [merge(item, changes[item["name"]]) if item["name"] in changes else item for item in base]
        return kept + [item for item in patch if item["name"] not in known]
    return patch


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, Mapping) and "name" in i for i in value)
