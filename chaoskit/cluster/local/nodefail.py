"""Node failure on the embedded cluster: a node that stops answering, and the node lifecycle controller's answer.

The timeline is Kubernetes' own, with its default timings (the experiment may shorten the first):

1. the node fails (``stop``: powered off, processes frozen; ``partition``: cut from the API server, its pods go
   on serving). Its kubelet reports nothing from now on, so the API still shows the node and its pods Ready;
2. after ``node_monitor_grace_s`` (kube-controller-manager's ``--node-monitor-grace-period``, 40 s) the node
   turns NotReady (taint ``node.kubernetes.io/unreachable``) and its pods are marked not ready, so the
   endpoints drop them;
3. each pod is evicted (marked for deletion) once it has tolerated the ``NoExecute`` taint for its
   ``tolerationSeconds`` (the pod template's tolerations; 300 s when it has none, as the DefaultTolerationSeconds
   admission plugin adds). A Deployment replaces it at once; a StatefulSet only once it is gone, which needs the
   kubelet: the pod stays Terminating until the node is back;
4. the node comes back (``restore``): Ready again, its kubelet kills what was deleted meanwhile and, after a
   ``stop``, starts the containers of the pods that are still its own again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from chaoskit.cluster.events import EventBus
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.local.controllers import ControlPlane
from chaoskit.cluster.local.nodes import LocalNode
from chaoskit.cluster.local.pod import LocalPod
from chaoskit.cluster.protocol import ClusterError, EventKind, NodeFailureMode

UNREACHABLE_TAINT: Final = "node.kubernetes.io/unreachable"
"""The taint of a node whose kubelet stopped posting status (both failure modes look like this to the API)."""


class NodeLifecycle:
    """Fails and restores nodes, and plays the node lifecycle controller for the failed ones."""

    def __init__(self, *, control: ControlPlane, config: LocalClusterConfig, bus: EventBus,
                 on_nodes_changed: Callable[[], None]) -> None:
        self._control = control
        self._config = config
        self._bus = bus
        self._on_nodes_changed = on_nodes_changed
        self._tasks: dict[str, list[asyncio.Task[None]]] = {}

    def failure_of(self, node: str) -> str | None:
        found = self._control.nodes.get(node)
        return found.failure if found is not None else None

    def fail(self, node: LocalNode, mode: NodeFailureMode, duration_s: float) -> None:
        if node.failure is not None:
            raise ClusterError(f"node {node.name} has already failed ({node.failure})",
                               hint="a node fails once at a time: space the firings further apart than duration")
        node.failure = mode
        for pod in self._pods_on(node.name):
            pod.cut_off(stop=mode == "stop")
        self._tasks[node.name] = [asyncio.ensure_future(self._monitor(node)),
                                  asyncio.ensure_future(self._come_back(node, duration_s))]
        self._on_nodes_changed()

    def _pods_on(self, node: str) -> list[LocalPod]:
        return [p for p in [*self._control.pods.values(), *self._control.orphans] if p.node == node]

    async def _come_back(self, node: LocalNode, duration_s: float) -> None:
        await asyncio.sleep(duration_s)
        await self.restore(node, by_timer=True)

    async def _monitor(self, node: LocalNode) -> None:
        """The node lifecycle controller: NotReady after the grace period, then taint-based eviction."""
        await asyncio.sleep(self._config.node_monitor_grace_s)
        node.ready = False
        self._bus.emit(EventKind.NODE_NOT_READY, name=node.name, node=node.name, ip=node.ip,
                       detail=f"{UNREACHABLE_TAINT}: kubelet stopped posting node status "
                              f"({self._config.node_monitor_grace_s:g}s grace)")
        evictions = []
        for pod in self._control.pods_on(node.name):
            if pod.ready:
                pod.ready = False
                self._bus.emit(EventKind.POD_NOT_READY, namespace=pod.namespace, name=pod.name, node=node.name,
                               ip=pod.ip or "", detail="node not ready")
            seconds = pod.template.toleration_seconds(UNREACHABLE_TAINT, self._config.default_toleration_s)
            if seconds is not None and not pod.terminating:
                evictions.append(self._evict_after(node, pod, seconds))
        self._on_nodes_changed()
        await asyncio.gather(*evictions)

    async def _evict_after(self, node: LocalNode, pod: LocalPod, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if node.failure is None or pod.terminating or pod.deleted:
            return
        self._control.delete_pod(pod, grace_s=pod.template.grace_s,
                                 reason=f"evicted: {UNREACHABLE_TAINT}:NoExecute tolerated {seconds:g}s")

    async def restore(self, node: LocalNode, *, by_timer: bool = False) -> None:
        """Ready again; the kubelet kills what was deleted meanwhile and (after a stop) restarts the rest."""
        if node.failure is None:
            return
        current = asyncio.current_task()
        for task in self._tasks.pop(node.name, []):
            if not (by_timer and task is current):
                task.cancel()
        mode, node.failure = node.failure, None
        node.ready = True
        self._bus.emit(EventKind.NODE_READY, name=node.name, node=node.name, ip=node.ip,
                       detail=f"back after {mode}")
        pods = self._pods_on(node.name)
        if mode == "stop":
            await asyncio.gather(*(p.reboot() for p in pods), return_exceptions=True)
        for pod in pods:
            pod.reconnect()
        self._on_nodes_changed()
        self._control.schedule_pending()

    async def close(self) -> None:
        for tasks in self._tasks.values():
            for task in tasks:
                task.cancel()
        self._tasks.clear()
