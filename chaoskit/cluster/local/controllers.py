"""The local control plane: pod registry, Deployment controller, scheduling and pod deletion."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from chaoskit.cluster.events import EventBus
from chaoskit.cluster.local.addresses import AddressPlan
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.local.nodes import LocalNode, pick_node
from chaoskit.cluster.local.objects import Workload
from chaoskit.cluster.local.pod import LocalPod, PodPlacement
from chaoskit.cluster.protocol import EventKind, NotFoundError

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The alphabet Kubernetes uses for generated name suffixes (no vowels, no 0/1/3)."""


def template_hash(workload: Workload) -> str:
    digest = hashlib.sha256(json.dumps(asdict(workload.template), sort_keys=True, default=str).encode())
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest.digest()[:10])


class ControlPlane:
    """Keeps Deployments at their replica count and drives pods through their lifecycle."""

    def __init__(self, *, config: LocalClusterConfig, plan: AddressPlan, bus: EventBus, state_dir: Path,
                 seed: int | None, on_pods_changed: Callable[[], None]) -> None:
        self._config = config
        self._plan = plan
        self._bus = bus
        self._state_dir = state_dir
        self._names = random.Random(None if seed is None else f"{seed}:names")
        self._placement = random.Random(None if seed is None else f"{seed}:placement")
        self._on_pods_changed = on_pods_changed
        self.nodes: dict[str, LocalNode] = {}
        self.workloads: dict[tuple[str, str], Workload] = {}
        self.pods: dict[tuple[str, str], LocalPod] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def background(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- events ------------------------------------------------------------------------------
    def _pod_event(self, pod: LocalPod, kind: EventKind, detail: str) -> None:
        self._bus.emit(kind, namespace=pod.namespace, name=pod.name, node=pod.node or "",
                       ip=pod.ip or "", detail=detail)
        if kind in (EventKind.POD_READY, EventKind.POD_NOT_READY, EventKind.POD_TERMINATING,
                    EventKind.POD_DELETED):
            self._on_pods_changed()

    # --- workloads ---------------------------------------------------------------------------
    def add_workload(self, workload: Workload) -> None:
        self.workloads[(workload.namespace, workload.name)] = workload
        self.reconcile(workload)

    def remove_workload(self, namespace: str, name: str) -> None:
        self.workloads.pop((namespace, name), None)
        for pod in list(self.pods.values()):
            if pod.namespace == namespace and (name in (pod.owner, pod.name)):
                self.delete_pod(pod, grace_s=0)

    def reconcile(self, workload: Workload) -> None:
        """Create or delete pods so that exactly ``replicas`` non-terminating pods exist."""
        if (workload.namespace, workload.name) not in self.workloads:
            return
        active = [p for p in self.pods.values()
                  if p.namespace == workload.namespace and p.owner == workload.name
                  and not p.terminating and not p.deleted]
        if not workload.controller:
            if not active and not any(p.name == workload.name for p in self.pods.values()):
                self._create_pod(workload, workload.name)
            return
        for _ in range(workload.replicas - len(active)):
            self._create_pod(workload, self._pod_name(workload))
        for pod in sorted(active, key=lambda p: p.created_ns)[workload.replicas:]:
            self.delete_pod(pod, grace_s=pod.template.grace_s)

    def _pod_name(self, workload: Workload) -> str:
        while True:
            suffix = "".join(self._names.choice(NAME_ALPHABET) for _ in range(5))
            name = f"{workload.name}-{template_hash(workload)}-{suffix}"
            if (workload.namespace, name) not in self.pods:
                return name

    def _create_pod(self, workload: Workload, name: str) -> None:
        pod = LocalPod(namespace=workload.namespace, name=name,
                       owner=workload.name if workload.controller else None,
                       template=workload.template, config=self._config, listener=self._pod_event)
        self.pods[(pod.namespace, pod.name)] = pod
        self._pod_event(pod, EventKind.POD_ADDED, "")
        self.schedule_pending()

    def schedule_pending(self) -> None:
        for pod in list(self.pods.values()):
            if pod.placement is None and not pod.terminating and not pod.deleted:
                node = pick_node(pod, self.nodes.values(), self.pods.values(), self._placement)
                if node is not None:
                    pod.bind(PodPlacement(node.name, self._plan.next_pod_ip(), node.root,
                                          self._state_dir / "pods" / pod.uid))

    def _reconcile_owner(self, pod: LocalPod) -> None:
        workload = self.workloads.get((pod.namespace, pod.owner or ""))
        if workload is not None:
            self.reconcile(workload)

    # --- pods --------------------------------------------------------------------------------
    def find_pod(self, namespace: str, name: str) -> LocalPod:
        pod = self.pods.get((namespace, name))
        if pod is None or pod.deleted:
            raise NotFoundError(f"pod {namespace}/{name} not found")
        return pod

    def delete_pod(self, pod: LocalPod, *, grace_s: float) -> None:
        """Graceful (grace_s > 0): Terminating now, processes stop within the grace period.
        Force (grace_s == 0): gone from the API at once, processes SIGKILLed."""
        if pod.terminating and grace_s > 0:
            return
        pod.terminating = True
        if grace_s <= 0:
            self._forget(pod)
            self.background(pod.terminate(0))
            return
        self._pod_event(pod, EventKind.POD_TERMINATING, f"grace={grace_s:g}s")
        self._reconcile_owner(pod)
        self.background(self._finish_delete(pod, grace_s))

    async def _finish_delete(self, pod: LocalPod, grace_s: float) -> None:
        await pod.terminate(grace_s)
        if (pod.namespace, pod.name) in self.pods:
            self._forget(pod)

    def _forget(self, pod: LocalPod) -> None:
        self.pods.pop((pod.namespace, pod.name), None)
        pod.deleted = True
        self._pod_event(pod, EventKind.POD_DELETED, "")
        self._reconcile_owner(pod)

    # --- nodes -------------------------------------------------------------------------------
    def node(self, name: str) -> LocalNode:
        node = self.nodes.get(name)
        if node is None:
            raise NotFoundError(f"node {name} not found", hint=f"nodes: {', '.join(self.nodes)}")
        return node

    def pods_on(self, node: str) -> list[LocalPod]:
        return [p for p in self.pods.values() if p.node == node and not p.deleted]

    async def fail_node(self, node: LocalNode) -> None:
        """Power off: processes die now; NotReady after the monitor grace; pods evicted after the timeout."""
        node.powered = False
        for pod in self.pods_on(node.name):
            pod.power_off()
        await asyncio.sleep(self._config.node_monitor_grace_s)
        node.ready = False
        self._bus.emit(EventKind.NODE_NOT_READY, name=node.name, node=node.name, ip=node.ip)
        for pod in self.pods_on(node.name):
            pod.ready = False
            self._pod_event(pod, EventKind.POD_NOT_READY, "node not ready")
        await asyncio.sleep(self._config.pod_eviction_timeout_s)
        for pod in self.pods_on(node.name):
            self.delete_pod(pod, grace_s=0)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        pods = list(self.pods.values())
        self.pods.clear()
        await asyncio.gather(*(p.terminate(0) for p in pods), return_exceptions=True)

