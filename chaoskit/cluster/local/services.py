"""Services of the local cluster: endpoints (control plane) and their delayed sync to the proxy (data path).

Sync timing follows kube-proxy's bounded-frequency runner: a change is applied ``proxy_sync_latency_s`` after it
happens, but never sooner than ``proxy_min_sync_period_s`` after the previous sync.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from chaoskit.cluster.events import EventBus
from chaoskit.cluster.local.addresses import AddressPlan, local_port
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.local.objects import ServicePort, ServiceSpec
from chaoskit.cluster.local.pod import LocalPod
from chaoskit.cluster.local.proxy.client import ProxyClient
from chaoskit.cluster.protocol import (
    ClusterError,
    ClusterEvent,
    EventKind,
    ManifestError,
    NotFoundError,
    ServiceAddress,
    ServiceKind,
)
from chaoskit.serviceports import PortChoiceError, PortRef, choose_port
from chaoskit.vocab import selector_matches

NODE_PORT_RANGE = (30000, 32767)


@dataclass
class Listener:
    """One proxy listening socket: a ClusterIP VIP:port, or one node's IP:nodePort."""

    id: str
    service: ServiceSpec
    port: ServicePort
    host: str
    listen_port: int
    node: str = ""
    """Set for NodePort listeners (the node whose IP this is)."""
    programmed: tuple[tuple[str, int, str], ...] = ()
    """(pod IP, port, hand-over socket path or "") as last sent to the proxy."""
    seq: int = 0


@dataclass
class LocalService:
    spec: ServiceSpec
    vip: str = ""
    load_balancer_ip: str = ""
    """type LoadBalancer: its ingress address (127.X.253.N), served like the VIP, as a cloud load balancer
    in front of every node would."""
    node_ports: dict[str, int] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)
    endpoints: dict[str, str] = field(default_factory=dict)
    """Ready pod name -> pod IP, as the control plane (EndpointSlice) sees it."""


class ServiceController:
    """Owns every Service: allocates addresses, tracks endpoints, programs the proxy with a delay."""

    def __init__(self, *, config: LocalClusterConfig, plan: AddressPlan, bus: EventBus,
                 proxy: ProxyClient, rng: random.Random) -> None:
        self._config = config
        self._plan = plan
        self._bus = bus
        self._proxy = proxy
        self._rng = rng
        self.services: dict[tuple[str, str], LocalService] = {}
        self._listeners: dict[str, Listener] = {}
        self._last_emitted: dict[tuple[str, str], str] = {}
        self._last_sync = 0.0
        self._sync_task: asyncio.Task[None] | None = None
        self._pods: Callable[[], Iterable[LocalPod]] = list
        self._node_failure: Callable[[str], str | None] = lambda _node: None

    def watch_pods(self, pods: Callable[[], Iterable[LocalPod]]) -> None:
        self._pods = pods

    def watch_nodes(self, failure: Callable[[str], str | None]) -> None:
        """``failure(node)``: ``stop``/``partition`` while the node is failed: its NodePort listeners then stop
        (the node is off) or keep their last rules (its kube-proxy cannot see the API)."""
        self._node_failure = failure

    def resync(self) -> None:
        """A node failed or came back: reprogram the listeners."""
        self._schedule_sync()

    def used_node_ports(self) -> set[int]:
        return {p for s in self.services.values() for p in s.node_ports.values()}

    async def add(self, spec: ServiceSpec, nodes: list[tuple[str, str]]) -> None:
        """Create the Service and its proxy listeners; ``nodes`` is [(name, ip)]."""
        service = LocalService(spec)
        self.services[(spec.namespace, spec.name)] = service
        if spec.headless:
            self.refresh()
            return
        service.vip = self._plan.next_vip()
        if spec.type == "LoadBalancer":
            service.load_balancer_ip = self._plan.next_load_balancer_ip()
        for port in spec.ports:
            await self._listen(service, port, service.vip, local_port(port.port), node="")
            if service.load_balancer_ip:
                await self._listen(service, port, service.load_balancer_ip, local_port(port.port), node="")
            if spec.type in ("NodePort", "LoadBalancer"):
                node_port = port.node_port or self._free_node_port()
                service.node_ports[port.name] = node_port
                for node, ip in nodes:
                    await self._listen(service, port, ip, node_port, node=node)
        self.refresh()

    def _free_node_port(self) -> int:
        used = self.used_node_ports()
        free = [p for p in range(*NODE_PORT_RANGE) if p not in used]
        if not free:
            raise ManifestError("no free NodePort left in 30000-32767")
        return self._rng.choice(free)

    async def _listen(self, service: LocalService, port: ServicePort, host: str, listen_port: int,
                      node: str) -> None:
        listener = Listener(f"{service.spec.namespace}/{service.spec.name}/{port.name}/{host}",
                            service.spec, port, host, listen_port, node)
        await self._proxy.listen(listener.id, host, listen_port)
        service.listeners.append(listener)
        self._listeners[listener.id] = listener

    async def remove(self, namespace: str, name: str) -> None:
        service = self.services.pop((namespace, name), None)
        for listener in service.listeners if service else []:
            self._listeners.pop(listener.id, None)
            await self._proxy.close_listener(listener.id)

    # --- endpoints ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute every Service's ready endpoints (control plane) and schedule a proxy sync."""
        pods = [p for p in self._pods() if p.ready and not p.terminating and not p.deleted]
        changed = False
        for service in self.services.values():
            selected = {p.name: p.ip or "" for p in pods if _selects(service.spec, p)}
            if selected != service.endpoints:
                self._emit_endpoint_changes(service, selected)
                service.endpoints = selected
                changed = True
        if changed:
            self._schedule_sync()

    def _emit_endpoint_changes(self, service: LocalService, selected: dict[str, str]) -> None:
        for pod, ip in service.endpoints.items():
            if pod not in selected:
                self._bus.emit(EventKind.ENDPOINT_REMOVED, namespace=service.spec.namespace, name=pod,
                               ip=ip, service=service.spec.name)
        for pod, ip in selected.items():
            if pod not in service.endpoints:
                self._bus.emit(EventKind.ENDPOINT_ADDED, namespace=service.spec.namespace, name=pod,
                               ip=ip, service=service.spec.name)

    def _schedule_sync(self) -> None:
        if self._sync_task is not None and not self._sync_task.done():
            return  # the pending sync will read the newest state
        now = time.monotonic()
        delay = max(self._config.proxy_sync_latency_s,
                    self._last_sync + self._config.proxy_min_sync_period_s - now)
        self._sync_task = asyncio.create_task(self._sync_after(delay))

    async def _sync_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._last_sync = time.monotonic()
        pods = {p.name: p for p in self._pods()}
        for listener in self._listeners.values():
            service = self.services[(listener.service.namespace, listener.service.name)]
            failure = self._node_failure(listener.node) if listener.node else None
            if failure == "partition":
                continue  # that node's kube-proxy is cut from the API: it keeps its last rules
            wanted = () if failure == "stop" else self._listener_endpoints(service, listener, pods)
            if wanted != listener.programmed:
                listener.programmed = wanted
                listener.seq += 1
                self._proxy.set_endpoints(listener.id, listener.seq, list(wanted))

    def _listener_endpoints(self, service: LocalService, listener: Listener,
                            pods: dict[str, LocalPod]) -> tuple[tuple[str, int, str], ...]:
        endpoints = []
        for name, ip in service.endpoints.items():
            pod = pods.get(name)
            if pod is None:
                continue
            if listener.node and service.spec.local_traffic and pod.node != listener.node:
                continue  # externalTrafficPolicy: Local only reaches pods on this node
            target = pod.template.port_number(listener.port.target_port)
            if target is not None:
                endpoints.append((ip, local_port(target), pod.handoff_path(target) or ""))
        return tuple(sorted(endpoints))

    def on_synced(self, listener_id: str, seq: int, ts_ns: int) -> None:
        """The proxy applied a listener's set: publish what the data path now does."""
        listener = self._listeners.get(listener_id)
        if listener is None or seq != listener.seq or (listener.node and self._node_failure(listener.node)):
            return  # a failed node's data path reports nothing
        node = listener.node if listener.service.local_traffic else ""
        detail = ",".join(sorted({ip for ip, _, _ in listener.programmed}))
        key = (f"{listener.service.namespace}/{listener.service.name}", node)
        if self._last_emitted.get(key) == detail:
            return
        self._last_emitted[key] = detail
        self._bus.publish(ClusterEvent(
            ts_ns=ts_ns, kind=EventKind.PROXY_SYNCED, namespace=listener.service.namespace,
            name=listener.service.name, service=listener.service.name, node=node, detail=detail,
        ))

    # --- addresses ---------------------------------------------------------------------------
    def addresses(self, namespace: str, name: str, kind: ServiceKind,
                  port: PortRef | None = None) -> list[ServiceAddress]:
        """The addresses of one port of the Service (``port`` by name or number; default: ``http``, else the
        first): a ClusterIP VIP:port, every node's nodePort, or each ready pod's IP and target port."""
        service = self.services[(namespace, name)]
        spec = service.spec
        chosen = _chosen_port(spec, port)
        if kind is ServiceKind.HEADLESS:
            pods = {p.name: p for p in self._pods()}
            out = []
            for pod_name, ip in sorted(service.endpoints.items()):
                pod = pods.get(pod_name)
                target = pod.template.port_number(chosen.target_port) if pod is not None else None
                if target is not None:  # a pod without the named port is no endpoint of it (as kube-proxy)
                    out.append(ServiceAddress(kind, ip, local_port(target)))
            return out
        if kind is ServiceKind.CLUSTER_IP:
            if spec.headless:
                raise ClusterError(f"service {name} is headless", hint="ask for Headless addresses instead")
            return [ServiceAddress(kind, service.vip, local_port(chosen.port))]
        if kind is ServiceKind.NODE_PORT and spec.type in ("NodePort", "LoadBalancer"):
            return [ServiceAddress(kind, lis.host, lis.listen_port, node=lis.node, traffic_local=spec.local_traffic)
                    for lis in service.listeners if lis.node and lis.port == chosen]
        if kind is ServiceKind.LOAD_BALANCER and service.load_balancer_ip:
            return [ServiceAddress(kind, service.load_balancer_ip, local_port(chosen.port))]
        raise ClusterError(f"service {name} has no {kind} address",
                           hint="use a Service of type NodePort" if kind is ServiceKind.NODE_PORT else
                           "use a Service of type LoadBalancer")

    async def close(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()


def _chosen_port(spec: ServiceSpec, ref: PortRef | None) -> ServicePort:
    """The Service port an address is asked for, chosen as on a real cluster (``chaoskit.serviceports``)."""
    as_api = {"metadata": {"name": spec.name},
              "spec": {"ports": [{"name": p.name, "port": p.port, "targetPort": p.target_port} for p in spec.ports]}}
    try:
        chosen = choose_port(as_api, ref, discovering=False)
    except PortChoiceError as exc:
        raise NotFoundError(str(exc), hint=exc.hint) from None
    return next(p for p in spec.ports if p.name == chosen["name"] and p.port == chosen["port"])


def _selects(spec: ServiceSpec, pod: LocalPod) -> bool:
    return (pod.namespace == spec.namespace and bool(spec.selector)
            and selector_matches(spec.selector, pod.template.labels))
