"""``KubeCluster``: the Cluster protocol on a real Kubernetes cluster through the official client.

Blocking API calls run in worker threads (``asyncio.to_thread``); watches run in informer threads that feed
the event hub and wake waits. Every change is journalled and undone by ``close`` (nodes always uncordoned;
created objects deleted unless ``keep_objects``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from chaoskit.cluster.events import EventBus, Subscription
from chaoskit.cluster.existing import LiveObjects
from chaoskit.cluster.kube import addresses, disruption, markers, workloads
from chaoskit.cluster.kube import apply as applying
from chaoskit.cluster.kube.api import JsonObj, KubeApi, PlannedAction
from chaoskit.cluster.kube.config import (
    KubeOptions,
    check_context,
    check_namespace,
    load_configuration,
    read_allowed_contexts,
)
from chaoskit.cluster.kube.incluster import START_LEAD_S, AgentDeps, in_cluster_load
from chaoskit.cluster.kube.informer import Notifier, ThreadsafePublisher
from chaoskit.cluster.kube.nodefail_ops import NodeFailer
from chaoskit.cluster.kube.translate import node_info, pod_info
from chaoskit.cluster.kube.watchers import Watchers
from chaoskit.cluster.protocol import (
    ClusterError,
    ClusterEvent,
    Manifest,
    NodeFailureMode,
    NodeInfo,
    PodInfo,
    ServiceAddress,
    ServiceKind,
    WaitTimeout,
)
from chaoskit.load.plan import LoadPlan
from chaoskit.load.source import LoadSource
from chaoskit.vocab import EventKind, LoadOrigin, selector_matches, selector_text

T = TypeVar("T")
EXEC_TIMEOUT_S = 30.0
REMOVE_TIMEOUT_S = 180.0


def matches(obj: JsonObj, selector: Mapping[str, str]) -> bool:
    return selector_matches(selector, obj.get("metadata", {}).get("labels"))


class KubeCluster:
    """A real cluster. Construct, ``await start()``, use, ``await close()`` (also on errors)."""

    backend = "kube"

    def __init__(self, options: KubeOptions | None = None) -> None:
        self.options = options or KubeOptions()
        self.context = ""
        self._allowed: set[str] = set(self.options.namespaces)
        self._api: KubeApi | None = None
        self._bus: EventBus | None = None
        self._notifier: Notifier | None = None
        self._watchers: Watchers | None = None
        self._created: list[applying.ObjectRef] = []
        self._cordoned: list[str] = []
        self._failer: NodeFailer | None = None
        self.notes: list[str] = []
        """What the run's notes should say about this backend (node failures: when they were in effect)."""

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        loaded = await asyncio.to_thread(load_configuration, self.options)
        self.context = loaded.context
        allowed = (*read_allowed_contexts(self.options.config_file), *self.options.allow_contexts)
        check_context(loaded.context, allowed=allowed, yes=self.options.yes)
        for ns in self._allowed:
            check_namespace(ns, allowed=self._allowed)
        loop = asyncio.get_running_loop()
        self._api = KubeApi(loaded.configuration, request_timeout_s=self.options.request_timeout_s,
                            dry_run=self.options.dry_run)
        self._bus, self._notifier = EventBus(), Notifier(loop)
        self._watchers = Watchers(self._api, ThreadsafePublisher(loop, self._bus), self._notifier,
                                  window_s=self.options.watch_window_s)
        await asyncio.to_thread(self._api.request, "GET", "/version")
        self._failer = NodeFailer(self._api, self.options, notes=self.notes, journal=self._created.append,
                                  allow=self._allowed.add)
        await asyncio.to_thread(self._watchers.start_nodes)
        for ns in sorted(self._allowed):
            await asyncio.to_thread(self._watchers.ensure_namespace, ns)

    async def close(self) -> None:
        if self._api is None:
            return
        errors: list[Exception] = []
        if self._failer is not None:  # before the objects: a failed node's pods go only once it is back
            errors += [ClusterError(e) for e in await self._failer.close()]
            self._failer = None
        for node in list(self._cordoned):
            try:
                await self.uncordon(node)
            except ClusterError as exc:
                errors.append(exc)
        if not self.options.keep_objects:
            try:
                await self._remove_refs(list(reversed(self._created)))
            except ClusterError as exc:
                errors.append(exc)
        if self._watchers is not None:
            await asyncio.to_thread(self._watchers.stop)
        if self._bus is not None:
            self._bus.close()
        api, self._api = self._api, None
        api.close()
        if errors:
            raise ClusterError(f"teardown left changes behind: {'; '.join(map(str, errors))}",
                               hint="run `chaoskit cleanup` with the same context")

    def subscribe(self) -> Subscription:
        return self._require_bus().subscribe()

    def run_notes(self) -> list[str]:
        """BackendNotes: what the run's notes should say about this backend."""
        return list(self.notes)

    def record(self, event: ClusterEvent) -> None:
        self._require_bus().publish(event)

    def planned_actions(self) -> list[PlannedAction]:
        """Every change a dry run would have made, in order."""
        return list(self._require_api().planned)

    # -- manifests ---------------------------------------------------------------------------------
    async def apply(self, manifests: Sequence[Manifest]) -> None:
        api = self._require_api()
        objs = applying.ordered([applying.labelled(m, run_id=self.options.run_id) for m in manifests])
        names = applying.namespaces_of(objs)
        if not self.options.namespaces:
            self._allowed |= names  # no experiment list: the manifests name the namespaces
        for ns in sorted(names):
            check_namespace(ns, allowed=self._allowed)
        declared = {o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"}
        for ns in sorted(names - declared):
            if await asyncio.to_thread(applying.require_namespace, api, ns,
                                       create=self.options.create_namespaces,
                                       run_id=self.options.run_id):
                self._created.append(applying.ObjectRef("v1", "Namespace", "", ns))
        namespaces = [o for o in objs if o["kind"] == "Namespace"]
        for obj in namespaces:
            if await asyncio.to_thread(applying.apply_object, api, obj):
                self._created.append(applying.ref_of(obj))
            if not api.dry_run:
                await asyncio.to_thread(self._require_watchers().ensure_namespace, obj["metadata"]["name"])
        # The API server checks every other object (server-side dry run) before any is applied: a manifest it
        # rejects (an unknown field is a 500 from apply) then leaves only namespaces, which teardown removes.
        others = [o for o in objs if o["kind"] != "Namespace"]
        await asyncio.to_thread(applying.validate_objects, api, others)
        for obj in others:
            if await asyncio.to_thread(applying.apply_object, api, obj):
                self._created.append(applying.ref_of(obj))
        for ns in sorted(names):
            if not api.dry_run:
                await asyncio.to_thread(self._require_watchers().ensure_namespace, ns)

    async def remove(self, manifests: Sequence[Manifest]) -> None:
        """Delete the manifests' objects chaoskit created (and namespaces it created); pre-existing
        objects are left in place. Waits (watching) until they are gone."""
        refs = {applying.ref_of(applying.labelled(m, run_id="")) for m in manifests}
        namespaces = applying.namespaces_of(manifests)
        doomed = [r for r in reversed(self._created)
                  if r in refs or (r.kind == "Namespace" and r.name in namespaces)]
        await self._remove_refs(doomed)

    async def _remove_refs(self, refs: list[applying.ObjectRef]) -> None:
        """Delete each object, then watch each until gone; one failure does not stop the others."""
        api, failed = self._require_api(), []
        # Namespaced objects first: deleting a namespace would take them anyway, but slower and unseen.
        refs = sorted(refs, key=lambda r: r.kind == "Namespace")
        deleted = []
        for ref in refs:  # all deletes first, so the grace periods run side by side
            scope = ref.name if ref.kind == "Namespace" else ref.namespace
            try:
                if scope:  # cluster-scoped objects (e.g. a ClusterRole) live in no namespace
                    check_namespace(scope, allowed=self._allowed)
                await asyncio.to_thread(applying.delete_object, api, ref)
                deleted.append(ref)
            except ClusterError as exc:
                failed.append(f"{ref.text}: {exc}")
        for ref in deleted:
            try:
                await asyncio.to_thread(applying.wait_gone, api, ref, timeout_s=REMOVE_TIMEOUT_S)
                self._created.remove(ref)
            except ClusterError as exc:
                failed.append(f"{ref.text}: {exc}")
        if failed:
            raise ClusterError(f"could not remove {'; '.join(failed)}")

    # -- reads and waits ---------------------------------------------------------------------------
    async def list_nodes(self) -> list[NodeInfo]:
        listing = await self._get("/api/v1/nodes")
        return [node_info(n, types=self.options.address_types,
                          override=self.options.node_addresses.get(n["metadata"]["name"]))
                for n in listing.get("items", [])]

    async def list_pods(self, namespace: str, selector: Mapping[str, str]) -> list[PodInfo]:
        check_namespace(namespace, allowed=self._allowed)
        listing = await self._get(f"/api/v1/namespaces/{namespace}/pods",
                                  query=[("labelSelector", selector_text(selector))])
        return sorted((pod_info(p) for p in listing.get("items", [])), key=lambda p: p.name)

    async def wait_pods_ready(self, namespace: str, selector: Mapping[str, str], *, count: int,
                              timeout_s: float) -> list[PodInfo]:
        check_namespace(namespace, allowed=self._allowed)
        if self._require_api().dry_run:  # nothing was applied: report what is there, wait for nothing
            self._require_api().plan("wait", f"{count} ready pods {selector_text(selector)}",
                                     namespace)
            return [p for p in await self.list_pods(namespace, selector) if p.ready]
        watchers = self._require_watchers()
        await asyncio.to_thread(watchers.ensure_namespace, namespace)

        def ready() -> list[PodInfo] | None:
            pods = [p for p in watchers.pods(namespace) if matches(p, selector)]
            watchers.raise_if_failing(pods)
            infos = [pod_info(p) for p in pods]
            ready = [i for i in infos if i.ready and not i.terminating]
            return sorted(ready, key=lambda i: i.name) if len(ready) == count else None

        def missing() -> str:
            infos = [pod_info(p) for p in watchers.pods(namespace) if matches(p, selector)]
            state = ", ".join(f"{i.name}(ready={i.ready},terminating={i.terminating})" for i in infos)
            return (f"{count} ready pods matching {selector_text(selector)} in {namespace} "
                    f"not reached in {timeout_s:g}s; have: {state or 'none'}")

        return await self._wait_for(ready, timeout_s=timeout_s, what=missing)

    async def wait_endpoints(self, namespace: str, service: str, ips: Iterable[str], *,
                             timeout_s: float) -> None:
        """Wait until the Service's ready endpoints (EndpointSlices) are exactly ``ips``. Pods turn
        Ready before the endpoint controller publishes them (it batches), so a steady state before a
        fault needs this too (kube only; the local backend's endpoints follow readiness at once)."""
        check_namespace(namespace, allowed=self._allowed)
        watchers = self._require_watchers()
        await asyncio.to_thread(watchers.ensure_namespace, namespace)
        wanted = set(ips)
        if self._require_api().dry_run:
            return

        def converged() -> bool | None:
            return True if watchers.ready_ips(namespace, service) == wanted else None

        await self._wait_for(converged, timeout_s=timeout_s, what=lambda: (
            f"service {namespace}/{service}: ready endpoints "
            f"{sorted(watchers.ready_ips(namespace, service))}, want {sorted(wanted, key=str)}"))

    async def _wait_for(self, check: Callable[[], T | None], *, timeout_s: float,
                        what: Callable[[], str]) -> T:
        """Re-check ``check`` whenever a watch reports a change, until it yields a value or time's up."""
        if self._require_api().dry_run:
            raise ClusterError("dry run: waits need the changes that were not made")
        notifier = self._notifier
        assert notifier is not None
        deadline = time.monotonic() + timeout_s
        while True:
            waiter = notifier.waiter()  # registered before the check: no change slips between
            self._require_watchers().raise_if_broken()
            result = check()
            remaining = deadline - time.monotonic()
            if result is not None or remaining <= 0:
                waiter.cancel()
                if result is None:
                    raise WaitTimeout(what())
                return result
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)

    # -- faults --------------------------------------------------------------------------------------
    async def delete_pod(self, namespace: str, name: str, *, grace_seconds: float | None) -> None:
        check_namespace(namespace, allowed=self._allowed)
        api, watchers = self._require_api(), self._require_watchers()
        await asyncio.to_thread(watchers.ensure_namespace, namespace)
        before = watchers.pod(namespace, name)
        await asyncio.to_thread(disruption.delete_pod, api, namespace, name, grace_seconds=grace_seconds)
        if api.dry_run or before is None:
            return

        def seen() -> bool | None:
            # Read-your-writes: once this returns, every wait sees the delete, not a stale cache.
            now = watchers.pod(namespace, name)
            if now is None or now["metadata"].get("uid") != before["metadata"].get("uid"):
                return True
            return True if now["metadata"].get("deletionTimestamp") else None

        await self._wait_for(seen, timeout_s=self.options.request_timeout_s,
                             what=lambda: f"the watch never showed the delete of {namespace}/{name}")

    async def kill_container(self, namespace: str, pod: str, container: str) -> None:
        check_namespace(namespace, allowed=self._allowed)
        api, watchers = self._require_api(), self._require_watchers()
        await asyncio.to_thread(watchers.ensure_namespace, namespace)
        before = await self._get(f"/api/v1/namespaces/{namespace}/pods/{pod}")
        disruption.check_killable(before, container)
        result = await asyncio.to_thread(disruption.send_kill, api, namespace, pod, container,
                                         timeout_s=EXEC_TIMEOUT_S)
        if api.dry_run:
            return

        def died() -> bool | None:
            return True if disruption.died_since(before, watchers.pod(namespace, pod), container) else None

        def why() -> str:
            return (f"container {container} of {namespace}/{pod} still runs "
                    f"{self.options.kill_confirm_timeout_s:g}s after SIGTERM to its PID 1 "
                    f"(kill exit={result.exit_code} {result.stderr.strip()}); its main process "
                    "installs no SIGTERM handler, so the kernel ignores the signal (docs/kube.md)")

        await self._wait_for(died, timeout_s=self.options.kill_confirm_timeout_s, what=why)

    async def cordon(self, node: str) -> None:
        changed = await asyncio.to_thread(disruption.cordon, self._require_api(), node,
                                          run_id=self.options.run_id)
        if changed and node not in self._cordoned:
            self._cordoned.append(node)

    async def uncordon(self, node: str) -> None:
        await asyncio.to_thread(disruption.uncordon, self._require_api(), node)
        if node in self._cordoned:
            self._cordoned.remove(node)

    async def drain(self, node: str, *, grace_seconds: float | None, timeout_s: float) -> list[str]:
        from chaoskit.cluster.kube.drain import drain_node

        await self.cordon(node)
        scope = None if self.options.drain_all_namespaces else frozenset(self._allowed)
        bus = self._require_bus()

        def refused(pod: JsonObj, reason: str) -> None:
            meta, status = pod.get("metadata", {}), pod.get("status", {})
            bus.emit(EventKind.EVICTION_REFUSED, namespace=str(meta.get("namespace", "")),
                     name=str(meta.get("name", "")), node=node, ip=str(status.get("podIP") or ""), detail=reason)

        return await drain_node(self._require_api(), self._require_watchers(), node, scope=scope,
                                grace_seconds=grace_seconds, timeout_s=timeout_s,
                                wait_for=self._wait_for, on_refused=refused)

    # -- node failure (nodefail_ops.NodeFailer: a privileged agent pod on the node) ------------------
    async def protected_nodes(self) -> dict[str, str]:
        return await self._require_failer().protected_nodes()

    async def check_node_failures(self) -> None:
        await self._require_failer().check()

    async def arm_node(self, node: str, *, mode: NodeFailureMode, duration_s: float) -> None:
        await self._require_failer().arm(node, mode=mode, duration_s=duration_s)

    async def fail_node(self, node: str, *, mode: NodeFailureMode, duration_s: float) -> None:
        await self._require_failer().fail(node, mode=mode, duration_s=duration_s)

    async def restore_node(self, node: str) -> None:
        """Waits for the node's agent: it alone can end the failure, on its own timer (docs/kube.md)."""
        await self._require_failer().restore(node)

    # -- addresses, markers, load ----------------------------------------------------------------
    async def service_addresses(self, namespace: str, name: str, kind: ServiceKind, *,
                                port: int | str | None = None) -> list[ServiceAddress]:
        check_namespace(namespace, allowed=self._allowed)
        svc = await self._get(f"/api/v1/namespaces/{namespace}/services/{name}")
        if kind is ServiceKind.CLUSTER_IP:
            return [addresses.cluster_ip_address(svc, port=port)]
        if kind is ServiceKind.LOAD_BALANCER:
            return addresses.load_balancer_addresses(svc, port=port)
        if kind is ServiceKind.NODE_PORT:
            nodes = (await self._get("/api/v1/nodes")).get("items", [])
            return addresses.node_port_addresses(
                svc, nodes, types=self.options.address_types, port=port,
                node_addresses=self.options.node_addresses, node_ports=self.options.node_ports)
        slices = await self._get(f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                                 query=[("labelSelector", f"kubernetes.io/service-name={name}")])
        return addresses.headless_addresses(svc, slices.get("items", []), port=port)

    async def read_namespace(self, namespace: str) -> LiveObjects:
        """What already runs in ``namespace`` (ExistingWorkloads): read only, also in a dry run."""
        check_namespace(namespace, allowed=self._allowed)
        return await asyncio.to_thread(workloads.read_namespace, self._require_api(), namespace)

    async def load_origin(self, namespace: str, service: str) -> LoadOrigin:
        """Where ClusterIP load for ``service`` runs (``options.load_from``; auto probes TCP). Ask once
        the Service's endpoints converged: before kube-proxy's first sync a new ClusterIP answers
        nowhere, and auto would pick in-cluster."""
        (addr,) = await self.service_addresses(namespace, service, ServiceKind.CLUSTER_IP)
        return await asyncio.to_thread(addresses.choose_load_origin, self.options.load_from, addr,
                                       probe_timeout_s=self.options.probe_timeout_s)

    def in_cluster_agent(self, namespace: str, plan: LoadPlan, *, start_timeout_s: float) -> LoadSource:
        """A load agent Job in ``namespace`` for ``plan`` (ClusterIP targets), or Locust's master and
        ``plan.workers`` worker Jobs; not yet started."""
        check_namespace(namespace, allowed=self._allowed)
        lead = dataclasses.replace(plan, start_at_ns=None, start_lead_s=START_LEAD_S)
        deps = AgentDeps(api=self._require_api(), watchers=self._require_watchers(), wait_for=self._wait_for,
                         apply=self.apply, remove=self.remove, run_id=self.options.run_id)
        return in_cluster_load(deps, namespace, lead, start_timeout_s=start_timeout_s,
                               image=self.options.agent_image, cpu=self.options.agent_cpu)

    async def write_marker(self, namespace: str, pod: str, container: str, mount_path: str,
                           marker: str) -> None:
        check_namespace(namespace, allowed=self._allowed)
        await asyncio.to_thread(markers.write_marker, self._require_api(), namespace, pod, container,
                                mount_path=mount_path, marker=marker, timeout_s=EXEC_TIMEOUT_S)

    async def read_marker(self, namespace: str, pod: str, container: str, mount_path: str,
                          marker: str) -> bool:
        check_namespace(namespace, allowed=self._allowed)
        return await asyncio.to_thread(markers.read_marker, self._require_api(), namespace, pod,
                                       container, mount_path=mount_path, marker=marker,
                                       timeout_s=EXEC_TIMEOUT_S)

    async def remove_marker(self, namespace: str, pod: str, container: str, mount_path: str,
                            marker: str) -> None:
        check_namespace(namespace, allowed=self._allowed)
        await asyncio.to_thread(markers.remove_marker, self._require_api(), namespace, pod, container,
                                mount_path=mount_path, marker=marker, timeout_s=EXEC_TIMEOUT_S)

    # -- helpers -------------------------------------------------------------------------------------
    async def _get(self, path: str, *, query: list[tuple[str, str]] | None = None) -> JsonObj:
        return await asyncio.to_thread(self._require_api().request, "GET", path, query=query)

    def _require_api(self) -> KubeApi:
        if self._api is None:
            raise ClusterError("KubeCluster is not started (or already closed)")
        return self._api

    def _require_failer(self) -> NodeFailer:
        if self._failer is None:
            raise ClusterError("KubeCluster is not started (or already closed)")
        return self._failer

    def _require_bus(self) -> EventBus:
        if self._bus is None:
            raise ClusterError("KubeCluster is not started (or already closed)")
        return self._bus

    def _require_watchers(self) -> Watchers:
        if self._watchers is None:
            raise ClusterError("KubeCluster is not started (or already closed)")
        return self._watchers
