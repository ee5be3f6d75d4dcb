"""The embedded local cluster: the Cluster protocol on real processes, loopback IPs and TCP proxies."""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from chaoskit.cluster.events import EventBus, Subscription
from chaoskit.cluster.local.addresses import AddressPlan, lease_subnet
from chaoskit.cluster.local.budgets import Budget, decide
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.local.controllers import ControlPlane
from chaoskit.cluster.local.inventory import Parsed, check_claims, parse_manifests
from chaoskit.cluster.local.leftovers import new_state_dir
from chaoskit.cluster.local.nodefail import NodeLifecycle
from chaoskit.cluster.local.nodes import LocalNode
from chaoskit.cluster.local.objects import ServiceSpec, Workload
from chaoskit.cluster.local.pod import LocalPod
from chaoskit.cluster.local.proxy.client import ProxyClient
from chaoskit.cluster.local.proxy.firewall import host_firewall_notes
from chaoskit.cluster.local.services import ServiceController
from chaoskit.cluster.manifests import describe
from chaoskit.cluster.protocol import (
    ClusterEvent,
    EventKind,
    Manifest,
    ManifestError,
    MarkerUnsupportedError,
    NodeFailureMode,
    NodeInfo,
    NotFoundError,
    PodInfo,
    ServiceAddress,
    ServiceKind,
    WaitTimeout,
)
from chaoskit.vocab import selector_matches

log = logging.getLogger(__name__)
PDB_RETRY_S = 5.0
"""Longest wait for a pod change before a refused eviction is asked again (kubectl retries every 5 s)."""
SHARED_LOCALHOST_NOTE = (
    "{what} has {count} containers ({names}): on the embedded cluster each gets the pod IP but they do not "
    "share a network namespace, so a container reaching another on localhost/127.0.0.1 fails there (use "
    "$POD_IP, or --backend kube); volumes they share (emptyDir) work"
)


class LocalCluster:
    """Implements ``chaoskit.cluster.protocol.Cluster`` without Kubernetes. Use ``async with``."""

    backend = "local"

    def __init__(self, config: LocalClusterConfig | None = None, *, seed: int | None = None) -> None:
        self.config = config or LocalClusterConfig()
        # One stream per purpose: how often one is drawn from (a subnet probe that found a used one, a
        # scheduling pass) must not shift another, so a seed replays names and placement exactly.
        self._rng = random.Random(None if seed is None else f"{seed}:addresses")
        self.bus = EventBus()
        self.warnings: list[str] = []
        self._own_state_dir = self.config.state_dir is None
        # Named after this process, so `chaoskit cleanup` can remove it if this process is SIGKILLed.
        self.state_dir = self.config.state_dir or new_state_dir()
        self._subnet = lease_subnet(self._rng, self.config.subnet)
        self.plan = AddressPlan(self._subnet.octet)
        self._proxy = ProxyClient(python=self.config.python, on_synced=self._on_synced,
                                  log_path=self.state_dir / "proxy.log")
        self.control = ControlPlane(config=self.config, plan=self.plan, bus=self.bus,
                                    state_dir=self.state_dir, seed=seed,
                                    on_pods_changed=self._pods_changed)
        ports = random.Random(None if seed is None else f"{seed}:ports")
        self.services = ServiceController(config=self.config, plan=self.plan, bus=self.bus, proxy=self._proxy,
                                          rng=ports)
        self.services.watch_pods(self.control.pods.values)
        self.budgets: dict[tuple[str, str], Budget] = {}
        self.notes: list[str] = []
        """What the run's notes should say about this backend (what it does not model for these objects)."""
        self.nodes = NodeLifecycle(control=self.control, config=self.config, bus=self.bus,
                                   on_nodes_changed=self._nodes_changed)
        self.services.watch_nodes(self.nodes.failure_of)
        self._started = False
        self._closed = False

    async def __aenter__(self) -> LocalCluster:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await self._proxy.start()
        for index in range(self.config.nodes):
            name = f"node-{index + 1}"
            root = self.state_dir / "nodes" / name
            root.mkdir(parents=True, exist_ok=True)
            node = LocalNode(name, self.plan.node_ip(index), root,
                             labels={"kubernetes.io/hostname": name})
            self.control.nodes[name] = node
            self.bus.emit(EventKind.NODE_READY, name=name, node=name, ip=node.ip)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.nodes.close()
        await self.control.close()
        await self.services.close()
        await self._proxy.stop()
        self._subnet.release()
        self.bus.close()
        if self._own_state_dir:
            await asyncio.to_thread(shutil.rmtree, self.state_dir, True)

    def run_notes(self) -> list[str]:
        """What the run's notes should say about the embedded cluster: what it does not model for these
        objects, then its own limits met during the run (``health_notes``)."""
        return [*self.notes, *self.health_notes()]

    def health_notes(self) -> list[str]:
        """What the embedded cluster itself failed to carry (for the run's notes; empty when it kept up):
        its proxy's accept-queue drops, hand-over timeouts and late event loop, data-path errors, and
        a host firewall that can refuse its NodePorts. Failures these explain are not the service's."""
        return [*self._proxy.health.notes(), *self._proxy.errors,
                *host_firewall_notes(sorted(self.services.used_node_ports()))]

    @property
    def proxy_pid(self) -> int | None:
        """The Service proxy process (kube-proxy's stand-in), while it runs."""
        return self._proxy.pid

    # --- events ------------------------------------------------------------------------------
    def subscribe(self) -> Subscription:
        return self.bus.subscribe()

    def record(self, event: ClusterEvent) -> None:
        self.bus.publish(event)

    def _pods_changed(self) -> None:
        self.services.refresh()

    def _nodes_changed(self) -> None:
        self.services.refresh()
        self.services.resync()

    def _on_synced(self, listener: str, seq: int, ts_ns: int) -> None:
        self.services.on_synced(listener, seq, ts_ns)

    # --- objects -----------------------------------------------------------------------------
    def _parse(self, manifests: Sequence[Manifest]) -> Parsed:
        found = parse_manifests(manifests)
        for warning in found.warnings:
            self.warnings.append(warning)
            log.warning(warning)
        return found

    def _check(self, workloads: list[Workload], services: list[ServiceSpec],
               manifests: Sequence[Manifest]) -> None:
        """Validate everything before touching anything: selectors must match, ports must not clash."""
        known = list(self.control.workloads.values()) + workloads
        by_name = {(m.get("kind"), (m.get("metadata") or {}).get("name")): m for m in manifests}
        seen_ports = self.services.used_node_ports()
        for service in services:
            where = describe(by_name.get(("Service", service.name), {"kind": "Service"}))
            if not service.selector or not any(
                w.namespace == service.namespace
                and selector_matches(service.selector, w.template.labels)
                for w in known
            ):
                raise ManifestError(f"{where}: spec.selector {dict(service.selector)} matches no pod template",
                                    hint="make the selector match a Deployment's template labels")
            for port in service.ports:
                if port.node_port is not None and port.node_port in seen_ports:
                    raise ManifestError(f"{where}: nodePort {port.node_port} is already allocated",
                                        hint="pick another nodePort or omit it to get one allocated")
                if port.node_port is not None:
                    seen_ports.add(port.node_port)

    async def apply(self, manifests: Sequence[Manifest]) -> None:
        found = self._parse(manifests)
        self._check(found.workloads, found.services, manifests)
        check_claims(found, self.control.claims)
        store = self.control.claims
        for storage in found.classes:
            store.classes[storage.name] = storage
        for claim in found.claims:
            where = f"PersistentVolumeClaim {claim.name}"
            store.add_claim(claim.namespace, claim.name, store.resolve_class(claim.storage_class, where), bare=True)
        for budget in found.budgets:
            self.budgets[(budget.namespace, budget.name)] = budget
        nodes = [(n.name, n.ip) for n in self.control.nodes.values()]
        for service in found.services:
            await self.services.add(service, nodes)
        for workload in found.workloads:
            self._note_containers(workload)
            self.control.add_workload(workload)

    def _note_containers(self, workload: Workload) -> None:
        containers = workload.template.containers
        if len(containers) > 1:
            what = f"{'Pod' if not workload.controller else 'the pod template of'} {workload.name}"
            self.notes.append(SHARED_LOCALHOST_NOTE.format(what=what, count=len(containers),
                                                           names=", ".join(c.name for c in containers)))

    async def remove(self, manifests: Sequence[Manifest]) -> None:
        """Remove the objects; a StatefulSet's claims stay (Kubernetes' default retention), bare claims go."""
        found = self._parse(manifests)
        for budget in found.budgets:
            self.budgets.pop((budget.namespace, budget.name), None)
        for workload in found.workloads:
            self.control.remove_workload(workload.namespace, workload.name)
        for service in found.services:
            await self.services.remove(service.namespace, service.name)
        for claim in found.claims:
            self.control.claims.remove_claim(claim.namespace, claim.name)

    # --- reads -------------------------------------------------------------------------------
    async def list_nodes(self) -> list[NodeInfo]:
        return [n.info() for n in self.control.nodes.values()]

    def _matching(self, namespace: str, selector: Mapping[str, str]) -> list[LocalPod]:
        return sorted(
            (p for p in self.control.pods.values()
             if p.namespace == namespace and not p.deleted
             and selector_matches(selector, p.template.labels)),
            key=lambda p: p.created_ns,
        )

    async def list_pods(self, namespace: str, selector: Mapping[str, str]) -> list[PodInfo]:
        return [p.info() for p in self._matching(namespace, selector)]

    async def wait_pods_ready(self, namespace: str, selector: Mapping[str, str], *, count: int,
                              timeout_s: float) -> list[PodInfo]:
        subscription = self.subscribe()
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                ready = [p for p in self._matching(namespace, selector) if p.ready and not p.terminating]
                if len(ready) == count:
                    return [p.info() for p in ready]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    states = ", ".join(f"{p.name}={p.phase}{'/ready' if p.ready else ''}"
                                       for p in self._matching(namespace, selector))
                    raise WaitTimeout(f"{len(ready)}/{count} pods ready in {namespace} after {timeout_s:g}s "
                                      f"({states or 'no pods'})", hint="check the readiness probe and image")
                await _next_event(subscription, remaining)
        finally:
            subscription.close()

    # --- faults ------------------------------------------------------------------------------
    async def delete_pod(self, namespace: str, name: str, *, grace_seconds: float | None) -> None:
        pod = self.control.find_pod(namespace, name)
        grace = pod.template.grace_s if grace_seconds is None else grace_seconds
        self.control.delete_pod(pod, grace_s=grace)

    async def kill_container(self, namespace: str, pod: str, container: str) -> None:
        try:
            self.control.find_pod(namespace, pod).kill_container(container)
        except KeyError:
            raise NotFoundError(f"pod {namespace}/{pod} has no container {container}") from None

    async def cordon(self, node: str) -> None:
        self._set_schedulable(node, False)

    async def uncordon(self, node: str) -> None:
        self._set_schedulable(node, True)
        self.control.schedule_pending()

    def _set_schedulable(self, name: str, schedulable: bool) -> None:
        node = self.control.node(name)
        if node.schedulable != schedulable:
            node.schedulable = schedulable
            kind = EventKind.NODE_UNCORDONED if schedulable else EventKind.NODE_CORDONED
            self.bus.emit(kind, name=name, node=name, ip=node.ip)

    async def drain(self, node: str, *, grace_seconds: float | None, timeout_s: float) -> list[str]:
        """Cordon, then evict through the budgets: a refused pod is asked for again after the next pod
        change (at most every ``PDB_RETRY_S``), until the drain's timeout."""
        await self.cordon(node)
        deadline = time.monotonic() + timeout_s
        pending = [p for p in self.control.pods_on(node) if not p.terminating]
        evicted: list[LocalPod] = []
        subscription = self.subscribe()
        try:
            while pending:
                pending = self._evict_pass(node, pending, evicted, grace_seconds)
                subscription.drain()  # our own refusals are not a change to wait for
                if pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        names = ", ".join(p.name for p in pending)
                        raise WaitTimeout(f"drain {node}: PodDisruptionBudgets still refuse evicting {names} "
                                          f"after {timeout_s:g}s",
                                          hint="the budget needs more ready replicas elsewhere")
                    await _next_event(subscription, min(PDB_RETRY_S, remaining))
            while any(not p.deleted for p in evicted):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(f"drain of {node}: pods still terminating after {timeout_s:g}s")
                await _next_event(subscription, remaining)
        finally:
            subscription.close()
        return [p.name for p in evicted]

    def _evict_pass(self, node: str, pending: list[LocalPod], evicted: list[LocalPod],
                    grace_seconds: float | None) -> list[LocalPod]:
        """Ask the Eviction API for each pending pod once; returns those refused."""
        refused = []
        for pod in pending:
            if pod.deleted or pod.terminating:
                continue  # gone meanwhile (deleted by someone else): nothing left to evict
            decision = decide(pod, self.budgets.values(), self.control.pods.values(), self._scale_of(pod))
            if not decision.allowed:
                self.bus.emit(EventKind.EVICTION_REFUSED, namespace=pod.namespace, name=pod.name, node=node,
                              ip=pod.ip or "", detail=decision.reason)
                refused.append(pod)
                continue
            grace = pod.template.grace_s if grace_seconds is None else grace_seconds
            self.control.delete_pod(pod, grace_s=grace)
            evicted.append(pod)
        return refused

    def _scale_of(self, pod: LocalPod) -> int:
        workload = self.control.workloads.get((pod.namespace, pod.owner or ""))
        return workload.replicas if workload is not None and workload.controller else 1

    # --- node failure (the NodeFailures protocol) ----------------------------------------------
    async def protected_nodes(self) -> dict[str, str]:
        """None: chaoskit and its load agent run on this host outside every logical node (a client machine)."""
        return {}

    async def fail_node(self, node: str, *, mode: NodeFailureMode = "stop", duration_s: float) -> None:
        self.nodes.fail(self.control.node(node), mode, duration_s)

    async def restore_node(self, node: str) -> None:
        await self.nodes.restore(self.control.node(node))

    # --- services and data -------------------------------------------------------------------
    async def service_addresses(self, namespace: str, name: str, kind: ServiceKind, *,
                                port: int | str | None = None) -> list[ServiceAddress]:
        if (namespace, name) not in self.services.services:
            raise NotFoundError(f"service {namespace}/{name} not found")
        return self.services.addresses(namespace, name, kind, port)

    def _volume_path(self, namespace: str, pod: str, container: str, mount_path: str) -> Path:
        """The host directory behind ``mount_path`` in the container: a volume's mount path or a directory below it."""
        target = self.control.find_pod(namespace, pod)
        spec = next((c for c in target.template.containers if c.name == container), None)
        if spec is None:
            raise NotFoundError(f"pod {namespace}/{pod} has no container {container}")
        wanted = mount_path.rstrip("/") + "/"
        found = max(((v, m.rstrip("/") + "/") for v, m in spec.mounts if wanted.startswith(m.rstrip("/") + "/")),
                    key=lambda vm: len(vm[1]), default=None)  # the deepest mount holding the path, as a kernel
        if found is None or target.placement is None:
            raise NotFoundError(f"container {container} of {pod} mounts nothing at {mount_path}")
        volume, mount = found
        return target.volume_dir(volume) / wanted[len(mount):]

    async def write_marker(self, namespace: str, pod: str, container: str, mount_path: str,
                           marker: str) -> None:
        directory = self._volume_path(namespace, pod, container, mount_path)
        if not directory.is_dir():
            raise MarkerUnsupportedError(f"write marker {marker} in {namespace}/{pod}/{container}: {mount_path} is not "
                                         "a directory", reason=f"{mount_path} is not a directory in container "
                                         f"{container}", hint="use a data[].path that exists in the volume")
        await asyncio.to_thread((directory / marker).write_text, marker + "\n")

    async def read_marker(self, namespace: str, pod: str, container: str, mount_path: str,
                          marker: str) -> bool:
        path = self._volume_path(namespace, pod, container, mount_path) / marker
        return await asyncio.to_thread(path.exists)

    async def remove_marker(self, namespace: str, pod: str, container: str, mount_path: str,
                            marker: str) -> None:
        path = self._volume_path(namespace, pod, container, mount_path) / marker
        await asyncio.to_thread(path.unlink, True)


async def _next_event(subscription: Subscription, timeout_s: float) -> None:
    """Wait for the next event (or the timeout, at most 1 s so state is re-read regularly)."""
    await subscription.wait(min(timeout_s, 1.0))
    subscription.drain()
