"""``chaoskit cleanup``: find what chaoskit left on a cluster (by label and node annotation) and restore it.

Leftovers are objects labelled ``app.kubernetes.io/managed-by=chaoskit`` (optionally of one run id) -- node-failure
agent pods among them, whose nodes come back on the agents' own timers --, nodes
annotated ``chaoskit.io/cordoned-by``, and data-check marker files (``.chaoskit-marker-<run dir>-...``) of
crashed runs. Markers are looked for first (a namespace deleted afterwards takes its pods, and with them the
only way into a hostPath volume): in the emptyDir, hostPath and persistentVolumeClaim volumes of the running pods
of namespaces chaoskit labelled, or of the namespaces named (``--namespace``: where a workload chaoskit did not
create was tested; then only those namespaces are looked at, with the rights of manifests/rbac-existing.yaml).
What that cannot reach is said (``Leftovers.unchecked``). Control-plane namespaces are never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
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
    NODE_AGENT_NAMESPACE,
    RUN_ID_LABEL,
    KubeOptions,
    check_context,
    check_namespace,
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


def find_leftovers(api: KubeApi, *, run_id: str | None, namespaces: Sequence[str] = ()) -> Leftovers:
    """Objects chaoskit labelled (in every namespace, or only in ``namespaces``) and nodes it cordoned."""
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}" + (f",{RUN_ID_LABEL}={run_id}" if run_id else "")
    found: list[ObjectRef] = []
    for api_version, kind in SCANNED_KINDS:
        try:
            res = api.resource(api_version, kind)
        except ManifestError:
            continue  # an API group this cluster does not serve holds nothing of ours
        if namespaces and not res.namespaced:
            continue  # a namespace named by the user is theirs: never a leftover
        paths = [res.path(ns) for ns in namespaces] if namespaces else [res.all_namespaces_path()]
        items = [i for path in paths for i in api.request("GET", path, query=[("labelSelector", selector)])
                 .get("items", [])]
        for item in items:
            meta = item.get("metadata", {})
            ns = str(meta.get("namespace", ""))
            if ns in FORBIDDEN_NAMESPACES or meta.get("name") in FORBIDDEN_NAMESPACES:
                continue
            if meta.get("deletionTimestamp"):
                continue  # already going away
            found.append(ObjectRef(api_version, kind, ns, str(meta["name"])))
    # Node agents live in chaoskit's own namespace; a cleanup narrowed to the user's namespaces (the read-only
    # Role) leaves them to their own timers.
    agents, wait_s = ([], 0.0) if namespaces else node_agents(api, run_id=run_id)
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
    listing = api.request("GET", f"/api/v1/namespaces/{NODE_AGENT_NAMESPACE}/pods",
                          query=[("labelSelector", selector)])
    found: list[str] = []
    wait_s, now = 0.0, time.time()
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


def sweep_markers(api: KubeApi, *, run_id: str | None, remove: bool,
                  namespaces: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """(markers found, what was not checked) in the running pods of namespaces chaoskit labelled, or of
    ``namespaces`` (where a workload chaoskit did not create was tested)."""
    if not namespaces:
        listing = api.request("GET", "/api/v1/namespaces",
                              query=[("labelSelector", f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")])
        namespaces = [str(n["metadata"]["name"]) for n in listing.get("items", [])]
    found: list[str] = []
    unchecked: list[str] = []
    seen: set[tuple[str, str]] = set()  # (node, hostPath) and (namespace, claim): one look per directory
    for ns in sorted(namespaces):
        if ns in FORBIDDEN_NAMESPACES:
            continue
        pods = api.request("GET", f"/api/v1/namespaces/{ns}/pods",
                           query=[("fieldSelector", "status.phase=Running")]).get("items", [])
        for pod in pods:
            name = str(pod["metadata"]["name"])
            for container, paths in volume_mounts(pod, seen).items():
                try:
                    hits = markers.find_markers(api, ns, name, container, mount_paths=paths, run_id=run_id or "",
                                                remove=remove, timeout_s=EXEC_TIMEOUT_S)
                except ClusterError as exc:
                    unchecked.append(f"{ns}/{name}/{container} ({', '.join(paths)}): {exc}")
                    continue
                found += [f"{ns}/{name}:{hit}" for hit in hits]
    unchecked.append("hostPath directories and claims that no running pod of these namespaces mounts, and "
                     "volumes of other namespaces (name them with --namespace)")
    return found, unchecked


def volume_mounts(pod: JsonObj, seen: set[tuple[str, str]]) -> dict[str, list[str]]:
    """container -> mount paths of the pod's emptyDir, hostPath and persistentVolumeClaim volumes, each volume once
    (through the first running container that mounts it), each node's hostPath directory and each claim once
    across pods."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    running = {c.get("name") for c in status.get("containerStatuses") or [] if (c.get("state") or {}).get("running")}
    kinds = {v.get("name"): v for v in spec.get("volumes") or []
             if "emptyDir" in v or "hostPath" in v or "persistentVolumeClaim" in v}
    mounts: dict[str, list[str]] = {}
    done: set[str] = set()
    for container in spec.get("containers") or []:
        if container.get("name") not in running:
            continue
        for mount in container.get("volumeMounts") or []:
            volume = kinds.get(mount.get("name"))
            if volume is None or mount["name"] in done:
                continue
            key = _shared_key(pod, volume)
            if key is not None and key in seen:
                continue
            if key is not None:
                seen.add(key)
            done.add(mount["name"])
            mounts.setdefault(str(container["name"]), []).append(str(mount.get("mountPath", "")))
    return mounts


def _shared_key(pod: JsonObj, volume: JsonObj) -> tuple[str, str] | None:
    """What a volume shares with other pods' (a node's hostPath directory, a claim); None for an emptyDir."""
    if "hostPath" in volume:
        return (str((pod.get("spec") or {}).get("nodeName", "")), str(volume["hostPath"].get("path", "")))
    if "persistentVolumeClaim" in volume:
        namespace = str((pod.get("metadata") or {}).get("namespace", ""))
        return (f"claim:{namespace}", str(volume["persistentVolumeClaim"].get("claimName", "")))
    return None


def restore(api: KubeApi, leftovers: Leftovers, *, timeout_s: float) -> None:
    """Uncordon the nodes, delete the objects, and watch until they are gone (a node agent's pod, and its
    namespace, only once its node is back: up to the end of its timer)."""
    for node in leftovers.nodes:
        uncordon(api, node)
    for ref in leftovers.objects:
        delete_object(api, ref)
    for ref in leftovers.objects:
        wait_gone(api, ref, timeout_s=max(timeout_s, leftovers.wait_s))


def _cleanup(options: KubeOptions, run_id: str | None, timeout_s: float, namespaces: Sequence[str]) -> Leftovers:
    loaded = load_configuration(options)
    allowed = (*read_allowed_contexts(options.config_file), *options.allow_contexts)
    check_context(loaded.context, allowed=allowed, yes=options.yes)
    api = KubeApi(loaded.configuration, request_timeout_s=options.request_timeout_s,
                  dry_run=options.dry_run)
    try:
        for ns in namespaces:
            check_namespace(ns, allowed=namespaces)
        found, unchecked = sweep_markers(api, run_id=run_id, remove=not options.dry_run, namespaces=namespaces)
        leftovers = find_leftovers(api, run_id=run_id, namespaces=namespaces)
        restore(api, leftovers, timeout_s=timeout_s)
        return Leftovers(leftovers.objects, leftovers.nodes, list(api.planned), found, unchecked,
                         agents=leftovers.agents, wait_s=leftovers.wait_s)
    finally:
        api.close()


async def cleanup(options: KubeOptions, *, run_id: str | None = None, timeout_s: float = 180.0,
                  namespaces: Sequence[str] = ()) -> Leftovers:
    """Find and restore leftovers (only list them, with ``options.dry_run``): everywhere chaoskit labelled, or in
    ``namespaces`` only (where it tested a workload it did not create: markers in its pods' volumes)."""
    return await asyncio.to_thread(_cleanup, options, run_id, timeout_s, tuple(namespaces))
