"""The local control plane: pod registry, Deployment and StatefulSet controllers, scheduling and pod deletion."""

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
from chaoskit.cluster.local.statefulset import next_step, pod_template
from chaoskit.cluster.local.volumes import ClaimStore
from chaoskit.cluster.protocol import EventKind, NotFoundError

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The alphabet Kubernetes uses for generated name suffixes (no vowels, no 0/1/3)."""


def template_hash(workload: Workload) -> str:
    digest = hashlib.sha256(json.dumps(asdict(workload.template), sort_keys=True, default=str).encode())
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest.digest()[:10])


class ControlPlane:
    """Keeps Deployments and StatefulSets at their replica count and drives pods through their lifecycle."""

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
        self.orphans: set[LocalPod] = set()
        """Pods gone from the API whose kubelet (on a failed node) has not stopped their processes yet."""
        self.claims = ClaimStore(state_dir)
        self._unschedulable: dict[str, str] = {}
        """Pod uid -> the reason last said for not scheduling it (said once per reason)."""
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
        if kind in (EventKind.POD_READY, EventKind.POD_NOT_READY, EventKind.POD_RUNNING):
            workload = self.workloads.get((pod.namespace, pod.owner or ""))
            if workload is not None and workload.stateful is not None and not workload.stateful.parallel:
                self.reconcile(workload)  # OrderedReady: the next ordinal waits for this one

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
        if workload.stateful is not None:
            self._reconcile_stateful(workload)
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

    def _reconcile_stateful(self, workload: Workload) -> None:
        owned = [p for p in self.pods.values() if p.namespace == workload.namespace and p.owner == workload.name]
        step = next_step(workload, owned)
        for name in step.create:
            self._create_pod(workload, name)
        for pod in step.delete:
            self.delete_pod(pod, grace_s=pod.template.grace_s)

    def _pod_name(self, workload: Workload) -> str:
        while True:
            suffix = "".join(self._names.choice(NAME_ALPHABET) for _ in range(5))
            name = f"{workload.name}-{template_hash(workload)}-{suffix}"
            if (workload.namespace, name) not in self.pods:
                return name

    def _create_pod(self, workload: Workload, name: str) -> None:
        for claim in workload.stateful.claim_templates if workload.stateful else ():
            storage = self.claims.resolve_class(claim.storage_class, f"StatefulSet {workload.name}")
            self.claims.add_claim(workload.namespace, f"{claim.name}-{name}", storage, bare=False)
        pod = LocalPod(namespace=workload.namespace, name=name,
                       owner=workload.name if workload.controller else None,
                       template=pod_template(workload, name) if workload.stateful else workload.template,
                       config=self._config, listener=self._pod_event)
        self.pods[(pod.namespace, pod.name)] = pod
        claims = ",".join(pod.claims.values())
        self._pod_event(pod, EventKind.POD_ADDED, f"uid={pod.uid}" + (f" claims={claims}" if claims else ""))
        self.schedule_pending()

    def schedule_pending(self) -> None:
        for pod in list(self.pods.values()):
            if pod.placement is None and not pod.terminating and not pod.deleted:
                self._schedule(pod)

    def _schedule(self, pod: LocalPod) -> None:
        volumes = pod.template.volumes
        missing = self.claims.missing(pod.namespace, volumes, pod.name)
        pinned, claim = self.claims.pinned_node(pod.namespace, volumes, pod.name)
        node = None if missing else pick_node(pod, self.nodes.values(), self.pods.values(), self._placement,
                                               pinned=pinned)
        if node is None:
            reason = (f"persistentvolumeclaim {missing[0]} not found" if missing else
                      f"claim {claim} has a local volume on node {pinned}, which is not Ready or not schedulable"
                      if pinned else "no Ready, schedulable node matches")
            if self._unschedulable.get(pod.uid) != reason:
                self._unschedulable[pod.uid] = reason
                self._pod_event(pod, EventKind.POD_UNSCHEDULABLE, reason)
            return
        self._unschedulable.pop(pod.uid, None)
        claim_dirs = self.claims.attach(pod.namespace, volumes, pod.name, node.name, node.root)
        if node.failure is not None:  # still Ready in the API: bound, but its kubelet will not hear of it
            pod.cut_off(stop=node.failure == "stop")
        pod.bind(PodPlacement(node.name, self._plan.next_pod_ip(), node.root, self._state_dir / "pods" / pod.uid,
                              claim_dirs))

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

    def delete_pod(self, pod: LocalPod, *, grace_s: float, reason: str = "") -> None:
        """Graceful (grace_s > 0): Terminating now, processes stop within the grace period.
        Force (grace_s == 0): gone from the API at once, processes SIGKILLed.
        Either way the processes stop only once the pod's kubelet hears of it (at once unless its node failed)."""
        if pod.terminating and grace_s > 0:
            return
        pod.terminating = True
        if grace_s <= 0:
            self._forget(pod)
            self.orphans.add(pod)
            self.background(self._kubelet_kill(pod))
            return
        self._pod_event(pod, EventKind.POD_TERMINATING, f"grace={grace_s:g}s" + (f" {reason}" if reason else ""))
        self._reconcile_owner(pod)
        self.background(self._finish_delete(pod, grace_s))

    async def _kubelet_kill(self, pod: LocalPod) -> None:
        await pod.until_reachable()
        await pod.terminate(0)
        self.orphans.discard(pod)

    async def _finish_delete(self, pod: LocalPod, grace_s: float) -> None:
        await pod.until_reachable()  # a failed node's kubelet confirms nothing until it is back
        await pod.terminate(grace_s)
        if (pod.namespace, pod.name) in self.pods and self.pods[(pod.namespace, pod.name)] is pod:
            self._forget(pod)

    def _forget(self, pod: LocalPod) -> None:
        if self.pods.get((pod.namespace, pod.name)) is pod:
            self.pods.pop((pod.namespace, pod.name))
        pod.deleted = True
        self._unschedulable.pop(pod.uid, None)
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

    async def close(self) -> None:
        self.workloads.clear()  # no controller may re-create what is being stopped
        for task in list(self._tasks):
            task.cancel()
        pods = list(self.pods.values()) + list(self.orphans)
        self.pods.clear()
        self.orphans.clear()
        await asyncio.gather(*(p.terminate(0) for p in pods), return_exceptions=True)

