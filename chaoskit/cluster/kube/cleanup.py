"""``chaoskit cleanup``: find what chaoskit left on a cluster (by label and node annotation) and restore it.

Leftovers are objects labelled ``app.kubernetes.io/managed-by=chaoskit`` (optionally of one run id) and
nodes annotated ``chaoskit.io/cordoned-by``. Control-plane namespaces are never touched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from chaoskit.cluster.kube.api import KubeApi, PlannedAction
from chaoskit.cluster.kube.apply import ObjectRef, delete_object, wait_gone
from chaoskit.cluster.kube.config import (
    CORDONED_BY_ANNOTATION,
    FORBIDDEN_NAMESPACES,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    RUN_ID_LABEL,
    KubeOptions,
    check_context,
    load_configuration,
    read_allowed_contexts,
)
from chaoskit.cluster.kube.disruption import uncordon
from chaoskit.cluster.protocol import ManifestError

SCANNED_KINDS = (
    ("v1", "Namespace"), ("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"), ("batch/v1", "Job"), ("v1", "Pod"),
)
"""Kinds chaoskit creates (experiment manifests and the load agent); the ones chaoskit.cluster.kube.rbac
grants. An experiment with other kinds needs them added to both."""


@dataclass(frozen=True, slots=True)
class Leftovers:
    objects: list[ObjectRef]
    """Deletion order: namespaced objects first, then namespaces."""
    nodes: list[str]
    """Nodes chaoskit cordoned and never uncordoned."""
    planned: list[PlannedAction] = field(default_factory=list)
    """With ``dry_run``: what restoring them would do."""


def find_leftovers(api: KubeApi, *, run_id: str | None) -> Leftovers:
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}" + (f",{RUN_ID_LABEL}={run_id}" if run_id else "")
    found: list[ObjectRef] = []
    for api_version, kind in SCANNED_KINDS:
        try:
            res = api.resource(api_version, kind)
        except ManifestError:
            continue  # an API group this cluster does not serve holds nothing of ours
        listing = api.request("GET", res.all_namespaces_path(), query=[("labelSelector", selector)])
        for item in listing.get("items", []):
            meta = item.get("metadata", {})
            ns = str(meta.get("namespace", ""))
            if ns in FORBIDDEN_NAMESPACES or meta.get("name") in FORBIDDEN_NAMESPACES:
                continue
            if meta.get("deletionTimestamp"):
                continue  # already going away
            found.append(ObjectRef(api_version, kind, ns, str(meta["name"])))
    doomed_ns = {r.name for r in found if r.kind == "Namespace"}
    # Objects inside a namespace that goes anyway need no delete of their own.
    objects = [r for r in found if r.kind != "Namespace" and r.namespace not in doomed_ns]
    objects += [r for r in found if r.kind == "Namespace"]
    nodes = []
    for node in api.request("GET", "/api/v1/nodes").get("items", []):
        by = (node.get("metadata", {}).get("annotations") or {}).get(CORDONED_BY_ANNOTATION)
        if by and (run_id is None or by == run_id):
            nodes.append(str(node["metadata"]["name"]))
    return Leftovers(objects, nodes)


def restore(api: KubeApi, leftovers: Leftovers, *, timeout_s: float) -> None:
    """Uncordon the nodes, delete the objects, and watch until they are gone."""
    for node in leftovers.nodes:
        uncordon(api, node)
    for ref in leftovers.objects:
        delete_object(api, ref)
    for ref in leftovers.objects:
        wait_gone(api, ref, timeout_s=timeout_s)


def _cleanup(options: KubeOptions, run_id: str | None, timeout_s: float) -> Leftovers:
    loaded = load_configuration(options)
    allowed = (*read_allowed_contexts(options.config_file), *options.allow_contexts)
    check_context(loaded.context, allowed=allowed, yes=options.yes)
    api = KubeApi(loaded.configuration, request_timeout_s=options.request_timeout_s,
                  dry_run=options.dry_run)
    try:
        leftovers = find_leftovers(api, run_id=run_id)
        restore(api, leftovers, timeout_s=timeout_s)
        return Leftovers(leftovers.objects, leftovers.nodes, list(api.planned))
    finally:
        api.close()


async def cleanup(options: KubeOptions, *, run_id: str | None = None,
                  timeout_s: float = 180.0) -> Leftovers:
    """Find and restore leftovers (only list them, with ``options.dry_run``)."""
    return await asyncio.to_thread(_cleanup, options, run_id, timeout_s)
