"""Pure translation of API objects (plain dicts) into chaoskit types and events. No I/O, no clocks.

Callers pass ``ts_ns`` (the host wall clock when the watch delivered the object); the API server's own
timestamps go to ``source_ts_ns``. API timestamps mostly have one-second resolution (conditions,
creation, deletion); container start/finish times too. They show skew, not sub-second order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chaoskit.cluster.protocol import (
    ClusterEvent,
    ContainerInfo,
    EventKind,
    NodeInfo,
    PodInfo,
    PodPhase,
)

Obj = Mapping[str, Any]
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def parse_time(value: object) -> int | None:
    """RFC 3339 (``2026-11-27T00:37:38Z``, optional fraction) -> ns since the epoch."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    whole = int(parsed.timestamp())
    return whole * 1_000_000_000 + parsed.microsecond * 1_000


def _condition(obj: Obj, kind: str) -> Obj:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def owner_workload(pod: Obj) -> str | None:
    """The controlling workload's name: the Deployment for a ReplicaSet-owned pod."""
    meta = pod.get("metadata", {})
    for ref in meta.get("ownerReferences") or []:
        if not ref.get("controller"):
            continue
        name = str(ref.get("name", ""))
        suffix = meta.get("labels", {}).get("pod-template-hash")
        if ref.get("kind") == "ReplicaSet" and suffix and name.endswith("-" + suffix):
            return name[: -len(suffix) - 1]
        return name
    return None


def pod_info(pod: Obj) -> PodInfo:
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    statuses = {c.get("name"): c for c in status.get("containerStatuses") or []}
    containers = []
    for c in spec.get("containers") or []:
        st = statuses.get(c.get("name"), {})
        containers.append(ContainerInfo(
            name=str(c.get("name")),
            ready=bool(st.get("ready")),
            running="running" in (st.get("state") or {}),
            restart_count=int(st.get("restartCount", 0)),
            mounts={m["name"]: m["mountPath"] for m in c.get("volumeMounts") or []},
        ))
    try:
        phase = PodPhase(status.get("phase", "Unknown"))
    except ValueError:
        phase = PodPhase.UNKNOWN
    return PodInfo(
        namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")), ip=status.get("podIP") or None,
        node=spec.get("nodeName") or None, phase=phase,
        ready=_condition(pod, "Ready").get("status") == "True",
        terminating=bool(meta.get("deletionTimestamp")),
        labels=dict(meta.get("labels") or {}), containers=tuple(containers),
        owner=owner_workload(pod), created_ns=parse_time(meta.get("creationTimestamp")) or 0,
        volumes=volume_types(spec), claims=volume_claims(spec),
    )


def volume_types(spec: Obj) -> dict[str, str]:
    """volume name -> its source type (``emptyDir``, ``hostPath``, ...), as the pod spec says."""
    out = {}
    for vol in spec.get("volumes") or []:
        kinds = [k for k in vol if k != "name"]
        out[str(vol.get("name"))] = str(kinds[0]) if kinds else ""
    return out


def volume_claims(spec: Obj) -> dict[str, str]:
    """volume name -> PersistentVolumeClaim name, for ``persistentVolumeClaim`` volumes (a StatefulSet pod's
    ``<template>-<pod>``): a replacement that kept its identity has the same claims."""
    out = {}
    for vol in spec.get("volumes") or []:
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            out[str(vol.get("name"))] = str(claim)
    return out


def node_address(node: Obj, *, types: Iterable[str], override: str | None = None) -> str:
    """The address NodePort clients use: an override, else the first address of the preferred types."""
    if override:
        return override
    addresses = node.get("status", {}).get("addresses") or []
    for kind in types:
        for addr in addresses:
            if addr.get("type") == kind and addr.get("address"):
                return str(addr["address"])
    return ""


def node_info(node: Obj, *, types: Iterable[str], override: str | None = None) -> NodeInfo:
    meta = node.get("metadata", {})
    return NodeInfo(
        name=str(meta.get("name", "")),
        address=node_address(node, types=types, override=override),
        ready=_condition(node, "Ready").get("status") == "True",
        schedulable=not node.get("spec", {}).get("unschedulable", False),
        labels=dict(meta.get("labels") or {}),
    )


def _terminated_at(status: Obj) -> str | None:
    """finishedAt of the container's latest termination (current state, else last state)."""
    for key in ("state", "lastState"):
        term = (status.get(key) or {}).get("terminated")
        if term:
            return str(term.get("finishedAt") or term.get("containerID") or "?")
    return None


def _container_events(old: Obj | None, new: Obj, base: Mapping[str, Any]) -> list[ClusterEvent]:
    before = {c.get("name"): c for c in (old or {}).get("status", {}).get("containerStatuses") or []}
    out: list[ClusterEvent] = []
    for st in new.get("status", {}).get("containerStatuses") or []:
        prev = before.get(st.get("name"))
        if prev is None:
            continue
        died = _terminated_at(st)
        if died is not None and died != _terminated_at(prev):
            term = (st.get("state") or {}).get("terminated") or (st.get("lastState") or {}).get(
                "terminated") or {}
            out.append(ClusterEvent(kind=EventKind.CONTAINER_DIED, **base,
                                    detail=f"{st.get('name')} exit={term.get('exitCode')} "
                                    f"reason={term.get('reason', '')}",
                                    source_ts_ns=parse_time(term.get("finishedAt"))))
        if int(st.get("restartCount", 0)) > int(prev.get("restartCount", 0)):
            started = ((st.get("state") or {}).get("running") or {}).get("startedAt")
            out.append(ClusterEvent(kind=EventKind.CONTAINER_RESTARTED, **base,
                                    detail=f"{st.get('name')} restarts={st.get('restartCount')}",
                                    source_ts_ns=parse_time(started)))
    return out


def pod_events(old: Obj | None, new: Obj | None, *, ts_ns: int) -> list[ClusterEvent]:
    """Events for one observed change of a pod (``old`` None: added; ``new`` None: deleted)."""
    cur = new if new is not None else old
    if cur is None:
        return []
    meta, spec, status = cur.get("metadata", {}), cur.get("spec", {}), cur.get("status", {})
    base = {"ts_ns": ts_ns, "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
            "node": spec.get("nodeName") or "", "ip": status.get("podIP") or ""}
    if new is None:
        return [ClusterEvent(kind=EventKind.POD_DELETED, **base, detail=f"uid={meta.get('uid', '')}")]
    out: list[ClusterEvent] = []
    prev: Obj = old or {}
    if old is None:
        out.append(ClusterEvent(kind=EventKind.POD_ADDED, **base, detail=f"uid={meta.get('uid', '')}",
                                source_ts_ns=parse_time(meta.get("creationTimestamp"))))
    if spec.get("nodeName") and not prev.get("spec", {}).get("nodeName"):
        out.append(ClusterEvent(kind=EventKind.POD_SCHEDULED, **base, source_ts_ns=parse_time(
            _condition(new, "PodScheduled").get("lastTransitionTime"))))
    if status.get("phase") == "Running" and prev.get("status", {}).get("phase") != "Running":
        out.append(ClusterEvent(kind=EventKind.POD_RUNNING, **base))
    out.extend(_container_events(old, new, base))
    ready = _condition(new, "Ready")
    was_ready = _condition(prev, "Ready").get("status") == "True"
    if (ready.get("status") == "True") != was_ready:
        kind = EventKind.POD_READY if not was_ready else EventKind.POD_NOT_READY
        out.append(ClusterEvent(kind=kind, **base,
                                source_ts_ns=parse_time(ready.get("lastTransitionTime"))))
    if meta.get("deletionTimestamp") and not prev.get("metadata", {}).get("deletionTimestamp"):
        end = parse_time(meta.get("deletionTimestamp"))
        grace = int(meta.get("deletionGracePeriodSeconds") or 0)
        out.append(ClusterEvent(kind=EventKind.POD_TERMINATING, **base, detail=f"grace={grace}s",
                                source_ts_ns=None if end is None else end - grace * 1_000_000_000))
    return out


def node_events(old: Obj | None, new: Obj | None, *, ts_ns: int) -> list[ClusterEvent]:
    """Ready and cordon transitions of a node (first sight and deletion produce none)."""
    if old is None or new is None:
        return []
    name = str(new.get("metadata", {}).get("name", ""))
    out: list[ClusterEvent] = []
    ready, was = _condition(new, "Ready"), _condition(old, "Ready")
    if (ready.get("status") == "True") != (was.get("status") == "True"):
        kind = EventKind.NODE_READY if ready.get("status") == "True" else EventKind.NODE_NOT_READY
        out.append(ClusterEvent(ts_ns=ts_ns, kind=kind, name=name, node=name,
                                source_ts_ns=parse_time(ready.get("lastTransitionTime"))))
    cordoned = bool(new.get("spec", {}).get("unschedulable"))
    if cordoned != bool(old.get("spec", {}).get("unschedulable")):
        kind = EventKind.NODE_CORDONED if cordoned else EventKind.NODE_UNCORDONED
        out.append(ClusterEvent(ts_ns=ts_ns, kind=kind, name=name, node=name))
    return out


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ready endpoint of a Service as the control plane sees it."""

    ip: str
    pod: str
    node: str
    port: int | None


def ready_endpoints(slice_obj: Obj) -> dict[str, Endpoint]:
    """Ready endpoints of one EndpointSlice, keyed by address (the set kube-proxy would program)."""
    ports = slice_obj.get("ports") or []
    port = ports[0].get("port") if ports else None
    out: dict[str, Endpoint] = {}
    for ep in slice_obj.get("endpoints") or []:
        # Absent 'ready' means ready (API contract); kube-proxy routes to ready endpoints only.
        if (ep.get("conditions") or {}).get("ready") is False:
            continue
        pod = (ep.get("targetRef") or {}).get("name", "")
        for ip in ep.get("addresses") or []:
            out[str(ip)] = Endpoint(str(ip), str(pod), str(ep.get("nodeName") or ""), port)
    return out


def service_of(slice_obj: Obj) -> str:
    return str(slice_obj.get("metadata", {}).get("labels", {}).get(SERVICE_NAME_LABEL, ""))


def endpoint_events(namespace: str, service: str, old: Mapping[str, Endpoint],
                    new: Mapping[str, Endpoint], *, ts_ns: int,
                    source_ts_ns: int | None) -> list[ClusterEvent]:
    """ENDPOINT_ADDED/REMOVED for the change of one Service's ready set (union over its slices)."""
    out: list[ClusterEvent] = []
    for ip in sorted(old.keys() - new.keys()):
        ep = old[ip]
        out.append(ClusterEvent(ts_ns=ts_ns, kind=EventKind.ENDPOINT_REMOVED, namespace=namespace,
                                name=ep.pod, node=ep.node, ip=ip, service=service,
                                source_ts_ns=source_ts_ns))
    for ip in sorted(new.keys() - old.keys()):
        ep = new[ip]
        out.append(ClusterEvent(ts_ns=ts_ns, kind=EventKind.ENDPOINT_ADDED, namespace=namespace,
                                name=ep.pod, node=ep.node, ip=ip, service=service,
                                source_ts_ns=source_ts_ns))
    return out


def ready_sets(slices: Iterable[Obj]) -> dict[str, dict[str, Endpoint]]:
    """Each Service's ready endpoints: the union over its slices (an endpoint may sit in any of them)."""
    out: dict[str, dict[str, Endpoint]] = {}
    for sl in slices:
        service = service_of(sl)
        if service:
            out.setdefault(service, {}).update(ready_endpoints(sl))
    return out


def initial_endpoint_events(namespace: str, slices: Iterable[Obj], *, ts_ns: int) -> list[ClusterEvent]:
    """ENDPOINT_ADDED for every endpoint already ready in the first list, stamped when the list arrived:
    without them, endpoints that existed before the watch would be unknown until they changed."""
    out: list[ClusterEvent] = []
    for service, ready in sorted(ready_sets(slices).items()):
        out += endpoint_events(namespace, service, {}, ready, ts_ns=ts_ns, source_ts_ns=None)
    return out


def initial_pod_events(pods: Iterable[Obj], *, ts_ns: int) -> list[ClusterEvent]:
    """The events of every pod of the first list as if it had just been added (added, scheduled, running,
    Ready, terminating as it is), stamped when the list arrived."""
    return [event for pod in pods for event in pod_events(None, pod, ts_ns=ts_ns)]


def slice_trigger_time(slice_obj: Obj) -> int | None:
    """When the change that produced this slice happened, per the endpoint controller."""
    return parse_time(slice_obj.get("metadata", {}).get("annotations", {}).get(TRIGGER_TIME_ANNOTATION))


def is_mirror_or_daemon(pod: Obj) -> bool:
    """Pods a drain leaves alone: static (mirror) pods and DaemonSet pods."""
    meta = pod.get("metadata", {})
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return True
    return any(ref.get("kind") == "DaemonSet" and ref.get("controller")
               for ref in meta.get("ownerReferences") or [])
