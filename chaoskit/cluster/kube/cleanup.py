"""``chaoskit cleanup``: find what chaoskit left on a cluster (by label and node annotation) and restore it.

Leftovers are objects labelled ``app.kubernetes.io/managed-by=chaoskit`` (optionally of one run id) -- node-failure
agent pods among them, whose nodes come back on the agents' own timers --, nodes annotated
``chaoskit.io/cordoned-by``, and data-check marker files (``chaoskit-marker-<run dir>-...``) of
crashed runs. Markers are looked for first (a namespace deleted afterwards takes its pods, and with them the
only way into a hostPath volume): in the emptyDir and hostPath volumes of the running pods of namespaces
chaoskit labelled. What that cannot reach is said (``Leftovers.unchecked``). Control-plane namespaces are
never touched.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from chaoskit.cluster.kube import markers, nodefail
from chaoskit.cluster.kube.api import JsonObj, KubeApi, PlannedAction
from chaoskit.cluster.kube.apply import ObjectRef, delete_object, wait_gone
from chaoskit.cluster.kube.config import (
    CORDONED_BY_ANNOTATION,
    FORBIDDEN_NAMESPACES,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    NAME_LABEL,
    RUN_ID_LABEL,
    KubeOptions,
    check_context,
    load_configuration,
    read_allowed_contexts,
)
from chaoskit.cluster.kube.disruption import uncordon
from chaoskit.cluster.kube.nodefail_ops import REPORT_BACK_S
from chaoskit.cluster.kube.translate import parse_time
from chaoskit.cluster.protocol import ClusterError, ManifestError

EXEC_TIMEOUT_S = 30.0

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
    markers: list[str] = field(default_factory=list)
    """Marker files found (removed unless dry run), as ``namespace/pod:path``."""
    unchecked: list[str] = field(default_factory=list)
    """Places markers could be and were not looked at, and why."""
    agents: list[str] = field(default_factory=list)
    """Node-failure agents found (their pods are among ``objects``): which node, what failure, back by when."""
    wait_s: float = 0.0
    """How long restoring may wait for them: a failed node's agent pod goes only once its node is back."""


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
    agents, wait_s = node_agents(api, run_id=run_id)
    doomed_ns = {r.name for r in found if r.kind == "Namespace"}
    # Objects inside a namespace that goes anyway need no delete of their own.
    objects = [r for r in found if r.kind != "Namespace" and r.namespace not in doomed_ns]
    objects += [r for r in found if r.kind == "Namespace"]
    nodes = []
    for node in api.request("GET", "/api/v1/nodes").get("items", []):
        by = (node.get("metadata", {}).get("annotations") or {}).get(CORDONED_BY_ANNOTATION)
        if by and (run_id is None or by == run_id):
            nodes.append(str(node["metadata"]["name"]))
    return Leftovers(objects, nodes, agents=agents, wait_s=wait_s)


def node_agents(api: KubeApi, *, run_id: str | None) -> tuple[list[str], float]:
    """(descriptions, seconds to wait for them) of the node-failure agent pods left by crashed runs. Each restores
    its node on its own timer; deleting it (SIGTERM) restores at once if its kubelet hears of it, else on time."""
    selector = f"{NAME_LABEL}={nodefail.AGENT_NAME}" + (f",{RUN_ID_LABEL}={run_id}" if run_id else "")
    listing = api.request("GET", "/api/v1/pods", query=[("labelSelector", selector)])
    found, wait_s, now = [], 0.0, time.time()
    for pod in listing.get("items", []):
        meta, spec = pod.get("metadata", {}), pod.get("spec", {})
        notes = meta.get("annotations") or {}
        phase = (pod.get("status") or {}).get("phase", "?")
        by = str(notes.get(nodefail.RESTORES_BY_ANNOTATION, ""))
        back = parse_time(by)
        if back is not None and phase not in ("Succeeded", "Failed"):
            wait_s = max(wait_s, back / 1e9 - now + REPORT_BACK_S)
        found.append(f"node {spec.get('nodeName', '?')}: node agent {meta.get('namespace')}/{meta.get('name')} "
                     f"({notes.get(nodefail.FAILURE_ANNOTATION, '?')}, {phase}; its own timer restores the node by "
                     f"{by or '?'} at the latest)")
    return found, wait_s


def sweep_markers(api: KubeApi, *, run_id: str | None, remove: bool) -> tuple[list[str], list[str]]:
    """(markers found, what was not checked) in the running pods of namespaces chaoskit labelled."""
    listing = api.request("GET", "/api/v1/namespaces",
                          query=[("labelSelector", f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")])
    found: list[str] = []
    unchecked: list[str] = []
    seen_host_paths: set[tuple[str, str]] = set()  # (node, hostPath): one look per directory of a node
    for ns in sorted(str(n["metadata"]["name"]) for n in listing.get("items", [])):
        if ns in FORBIDDEN_NAMESPACES:
            continue
        pods = api.request("GET", f"/api/v1/namespaces/{ns}/pods",
                           query=[("fieldSelector", "status.phase=Running")]).get("items", [])
        for pod in pods:
            name = str(pod["metadata"]["name"])
            for container, paths in volume_mounts(pod, seen_host_paths).items():
                try:
                    hits = markers.find_markers(api, ns, name, container, mount_paths=paths, run_id=run_id or "",
                                                remove=remove, timeout_s=EXEC_TIMEOUT_S)
                except ClusterError as exc:
                    unchecked.append(f"{ns}/{name}/{container} ({', '.join(paths)}): {exc}")
                    continue
                found += [f"{ns}/{name}:{hit}" for hit in hits]
    unchecked.append("hostPath directories that no running pod of a chaoskit-labelled namespace mounts, "
                     "and volumes of other namespaces")
    return found, unchecked


def volume_mounts(pod: JsonObj, seen_host_paths: set[tuple[str, str]]) -> dict[str, list[str]]:
    """container -> mount paths of the pod's emptyDir and hostPath volumes, each volume once (through the first
    running container that mounts it) and each node's hostPath directory once across pods."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    running = {c.get("name") for c in status.get("containerStatuses") or [] if (c.get("state") or {}).get("running")}
    kinds = {v.get("name"): v for v in spec.get("volumes") or [] if "emptyDir" in v or "hostPath" in v}
    mounts: dict[str, list[str]] = {}
    done: set[str] = set()
    for container in spec.get("containers") or []:
        if container.get("name") not in running:
            continue
        for mount in container.get("volumeMounts") or []:
            volume = kinds.get(mount.get("name"))
            if volume is None or mount["name"] in done:
                continue
            if "hostPath" in volume:
                key = (str(spec.get("nodeName", "")), str(volume["hostPath"].get("path", "")))
                if key in seen_host_paths:
                    continue
                seen_host_paths.add(key)
            done.add(mount["name"])
            mounts.setdefault(str(container["name"]), []).append(str(mount.get("mountPath", "")))
    return mounts


def restore(api: KubeApi, leftovers: Leftovers, *, timeout_s: float) -> None:
    """Uncordon the nodes, delete the objects, and watch until they are gone (a node agent's pod, and its
    namespace, only once its node is back: up to the end of its timer)."""
    for node in leftovers.nodes:
        uncordon(api, node)
    for ref in leftovers.objects:
        delete_object(api, ref)
    for ref in leftovers.objects:
        wait_gone(api, ref, timeout_s=max(timeout_s, leftovers.wait_s))


def _cleanup(options: KubeOptions, run_id: str | None, timeout_s: float) -> Leftovers:
    loaded = load_configuration(options)
    allowed = (*read_allowed_contexts(options.config_file), *options.allow_contexts)
    check_context(loaded.context, allowed=allowed, yes=options.yes)
    api = KubeApi(loaded.configuration, request_timeout_s=options.request_timeout_s,
                  dry_run=options.dry_run)
    try:
        found, unchecked = sweep_markers(api, run_id=run_id, remove=not options.dry_run)
        leftovers = find_leftovers(api, run_id=run_id)
        restore(api, leftovers, timeout_s=timeout_s)
        return Leftovers(leftovers.objects, leftovers.nodes, list(api.planned), found, unchecked,
                         agents=leftovers.agents, wait_s=leftovers.wait_s)
    finally:
        api.close()


async def cleanup(options: KubeOptions, *, run_id: str | None = None,
                  timeout_s: float = 180.0) -> Leftovers:
    """Find and restore leftovers (only list them, with ``options.dry_run``)."""
    return await asyncio.to_thread(_cleanup, options, run_id, timeout_s)
