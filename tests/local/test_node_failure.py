"""A failed node on the embedded cluster, with real processes and sockets: `stop` (powered off) and `partition`
(cut from the API server). Traffic to the node's pods fails (stop) until the endpoints drop them, the node turns
NotReady after the grace period, its pods are evicted after their toleration, and the node comes back."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chaoskit.cluster.events import Subscription
from chaoskit.cluster.local.addresses import local_port
from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.manifests import load_manifest_files
from chaoskit.cluster.protocol import ClusterEvent, EventKind, PodInfo, PodPhase, ServiceKind
from tests.support import http_get, steady_load

pytestmark = pytest.mark.local
HERE = Path(__file__).parent / "experiments"
STATEFULSET = Path(__file__).resolve().parents[2] / "manifests" / "statefulset.yaml"
NS = "chaoskit-test"
WEB = {"app": "web"}


class Log:
    """Every event of a subscription, kept, with a bounded wait for the first one that matches."""

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription
        self._since_ns = time.time_ns()
        self.events: list[ClusterEvent] = []

    def _drain(self) -> None:
        # A subscription replays the current state first, with its original stamps: keep only what is new.
        self.events.extend(e for e in self._subscription.drain() if e.ts_ns >= self._since_ns)

    async def wait_for(self, match: Callable[[ClusterEvent], bool], timeout_s: float = 30) -> ClusterEvent:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            self._drain()
            found = next((e for e in self.events[seen:] if match(e)), None)
            if found is not None:
                return found
            seen = len(self.events)
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no matching event within {timeout_s}s"
            await self._subscription.wait(min(remaining, 0.5))

    def first(self, kind: EventKind, name: str, after_ns: int = 0) -> ClusterEvent | None:
        self._drain()
        return next((e for e in self.events if e.kind == kind and e.name == name and e.ts_ns >= after_ns), None)


def _frozen(pid: int) -> bool:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] == "T"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _three_web_pods(cluster: LocalCluster, log: Log) -> tuple[list[PodInfo], str, int]:
    """Three Ready pods, once the Service's data path forwards to all three."""
    await cluster.apply(load_manifest_files([HERE / "failing-node.manifest.yaml"]))
    pods = await cluster.wait_pods_ready(NS, WEB, count=3, timeout_s=60)
    ips = {p.ip for p in pods}
    await log.wait_for(lambda e: e.kind == EventKind.PROXY_SYNCED and set(e.detail.split(",")) == ips)
    (address,) = await cluster.service_addresses(NS, "web", ServiceKind.CLUSTER_IP)
    return pods, address.host, address.port


def test_stop_fails_requests_to_its_pods_until_the_endpoints_drop_them() -> None:
    async def scenario() -> None:
        config = LocalClusterConfig(node_monitor_grace_s=2.0)
        async with LocalCluster(config, seed=5) as cluster:
            log = Log(cluster.subscribe())
            pods, host, port = await _three_web_pods(cluster, log)
            victim = pods[0]
            assert victim.node is not None and victim.ip is not None
            pids = [c.process.pid for c in cluster.control.find_pod(NS, victim.name).containers if c.process]
            failed_ns = time.time_ns()
            await cluster.fail_node(victim.node, mode="stop", duration_s=9.0)
            hits = await steady_load(host, port, rate=30, duration_s=5.0)
            assert all(_frozen(pid) for pid in pids), "a stopped node's processes are frozen, not killed"
            # The API still believes the pod is Ready until the node monitor grace period has passed.
            not_ready = await log.wait_for(lambda e: e.kind == EventKind.NODE_NOT_READY)
            assert not_ready.ts_ns - failed_ns >= 2.0e9
            dropped = await log.wait_for(lambda e: e.kind == EventKind.PROXY_SYNCED and e.ts_ns > not_ready.ts_ns
                                         and victim.ip not in e.detail.split(","))
            failures = [h for h in hits if not h.ok]
            assert failures, "requests routed to the frozen pod must fail"
            assert all(h.error == "TimeoutError" for h in failures), "a powered-off node does not answer at all"
            assert all(h.start_ns < dropped.ts_ns for h in failures), "after the endpoints dropped it: no failure"
            after = [h for h in hits if h.start_ns > dropped.ts_ns]
            assert after and all(h.ok and victim.name.encode() not in h.body for h in after)
            # Evicted after its 2 s toleration, replaced elsewhere at once (a Deployment does not wait) ...
            evicted = await log.wait_for(lambda e: e.kind == EventKind.POD_TERMINATING and e.name == victim.name)
            assert "evicted" in evicted.detail and evicted.ts_ns >= not_ready.ts_ns
            replaced = await cluster.wait_pods_ready(NS, WEB, count=3, timeout_s=30)
            assert victim.name not in {p.name for p in replaced}
            assert log.first(EventKind.NODE_READY, victim.node, after_ns=failed_ns) is None, (
                "replaced while the node was still down")
            # ... and the node comes back by itself after `duration`; its kubelet then deletes the evicted pod.
            back = await log.wait_for(lambda e: e.kind == EventKind.NODE_READY and e.name == victim.node)
            assert back.ts_ns - failed_ns >= 9.0e9
            deleted = await log.wait_for(lambda e: e.kind == EventKind.POD_DELETED and e.name == victim.name)
            assert deleted.ts_ns >= back.ts_ns
            assert not any(_alive(pid) for pid in pids)
            assert next(n for n in await cluster.list_nodes() if n.name == victim.node).ready

    asyncio.run(scenario())


def test_partition_keeps_its_pods_serving_but_out_of_the_endpoints() -> None:
    async def scenario() -> None:
        config = LocalClusterConfig(node_monitor_grace_s=2.0)
        async with LocalCluster(config, seed=6) as cluster:
            log = Log(cluster.subscribe())
            pods, host, port = await _three_web_pods(cluster, log)
            victim = pods[0]
            assert victim.node is not None and victim.ip is not None
            await cluster.fail_node(victim.node, mode="partition", duration_s=60.0)
            hits = await steady_load(host, port, rate=30, duration_s=4.0)
            assert all(h.ok for h in hits), "a partitioned node's pods keep answering until the endpoints drop them"
            await log.wait_for(lambda e: e.kind == EventKind.ENDPOINT_REMOVED and e.name == victim.name)
            await log.wait_for(lambda e: e.kind == EventKind.POD_TERMINATING and e.name == victim.name)
            await cluster.wait_pods_ready(NS, WEB, count=3, timeout_s=30)
            # Split brain: deleted from the API and replaced, yet still serving on its own IP.
            direct = await http_get(victim.ip, local_port(8080), path="/")
            assert direct.ok and victim.name.encode() in direct.body
            assert victim.name in {p.name for p in await cluster.list_pods(NS, WEB)}, "terminating, not gone"
            await cluster.restore_node(victim.node)
            deleted = await log.wait_for(lambda e: e.kind == EventKind.POD_DELETED and e.name == victim.name)
            back = log.first(EventKind.NODE_READY, victim.node)
            assert back is not None and back.ts_ns <= deleted.ts_ns, "only the healed kubelet stops the old pod"
            assert not (await http_get(victim.ip, local_port(8080), timeout_s=1.0)).ok

    asyncio.run(scenario())


def test_a_statefulset_pod_on_a_failed_node_is_replaced_only_once_the_node_is_back() -> None:
    async def scenario() -> None:
        config = LocalClusterConfig(node_monitor_grace_s=1.0)
        app = {"app": "chaoskit-data"}
        async with LocalCluster(config, seed=7) as cluster:
            await cluster.apply(load_manifest_files([STATEFULSET]))
            victim = (await cluster.wait_pods_ready("chaoskit-demo", app, count=3, timeout_s=60))[1]
            assert victim.node is not None
            await cluster.write_marker("chaoskit-demo", victim.name, "httpd", "/usr/local/apache2/htdocs/data", "m")
            log = Log(cluster.subscribe())  # replays the current state first: look at what comes after the failure
            failed_ns = time.time_ns()
            await cluster.fail_node(victim.node, mode="stop", duration_s=60.0)
            await log.wait_for(lambda e: e.kind == EventKind.POD_TERMINATING and e.name == victim.name
                               and e.ts_ns >= failed_ns)
            # Never two pods with one identity: the old one stays Terminating, nobody replaces it yet.
            same = [p for p in await cluster.list_pods("chaoskit-demo", app) if p.name == victim.name]
            assert [(p.uid, p.terminating) for p in same] == [(victim.uid, True)]
            assert log.first(EventKind.POD_ADDED, victim.name, after_ns=failed_ns) is None
            await cluster.restore_node(victim.node)
            added = await log.wait_for(lambda e: e.kind == EventKind.POD_ADDED and e.name == victim.name
                                       and e.ts_ns >= failed_ns)
            assert f"claims=data-{victim.name}" in added.detail
            after = await cluster.wait_pods_ready("chaoskit-demo", app, count=3, timeout_s=30)
            successor = next(p for p in after if p.name == victim.name)
            assert successor.uid != victim.uid and successor.claims == victim.claims == {"data": f"data-{victim.name}"}
            assert await cluster.read_marker("chaoskit-demo", victim.name, "httpd", "/usr/local/apache2/htdocs/data",
                                             "m")

    asyncio.run(scenario())


def test_a_pod_pinned_to_a_failed_node_by_its_local_volume_stays_pending() -> None:
    async def scenario() -> None:
        config = LocalClusterConfig(node_monitor_grace_s=1.0)
        app = {"app": "pinned"}
        async with LocalCluster(config, seed=8) as cluster:
            await cluster.apply(load_manifest_files([HERE / "local-volume.manifest.yaml"]))
            (victim,) = await cluster.wait_pods_ready(NS, app, count=1, timeout_s=60)
            assert victim.node is not None and victim.volumes == {"state": "persistentVolumeClaim"}
            await cluster.write_marker(NS, victim.name, "web", "/state", "kept")
            log = Log(cluster.subscribe())
            await cluster.fail_node(victim.node, mode="stop", duration_s=60.0)
            why = await log.wait_for(lambda e: e.kind == EventKind.POD_UNSCHEDULABLE)
            assert f"has a local volume on node {victim.node}" in why.detail
            (pending,) = [p for p in await cluster.list_pods(NS, app) if not p.terminating]
            assert pending.name == why.name != victim.name
            assert (pending.phase, pending.node) == (PodPhase.PENDING, None)
            await cluster.restore_node(victim.node)
            (moved,) = await cluster.wait_pods_ready(NS, app, count=1, timeout_s=30)
            assert (moved.name, moved.node) == (pending.name, victim.node)
            assert await cluster.read_marker(NS, moved.name, "web", "/state", "kept")

    asyncio.run(scenario())


def test_a_stop_shorter_than_the_toleration_restarts_the_pods_in_place() -> None:
    async def scenario() -> None:
        config = LocalClusterConfig(node_monitor_grace_s=1.0)
        async with LocalCluster(config, seed=9) as cluster:
            log = Log(cluster.subscribe())
            pods, _, _ = await _three_web_pods(cluster, log)
            victim = pods[0]
            assert victim.node is not None and victim.ip is not None
            old = [c.process.pid for c in cluster.control.find_pod(NS, victim.name).containers if c.process]
            await cluster.fail_node(victim.node, mode="stop", duration_s=1.5)  # evicted only after 1 s + 2 s
            back = await log.wait_for(lambda e: e.kind == EventKind.NODE_READY and e.name == victim.node)
            restarted = await log.wait_for(lambda e: e.kind == EventKind.CONTAINER_RESTARTED
                                           and e.name == victim.name)
            assert restarted.ts_ns >= back.ts_ns and "node rebooted" in restarted.detail
            await log.wait_for(lambda e: e.kind == EventKind.POD_READY and e.name == victim.name
                               and e.ts_ns > back.ts_ns)
            same = next(p for p in await cluster.list_pods(NS, WEB) if p.name == victim.name)
            assert (same.uid, same.ip, same.node, same.terminating) == (victim.uid, victim.ip, victim.node, False)
            assert same.restart_count == victim.restart_count + 1
            assert log.first(EventKind.POD_TERMINATING, victim.name) is None, "not evicted"
            assert not any(_alive(pid) for pid in old), "the frozen processes died with the power loss"
            answer = await http_get(victim.ip, local_port(8080), path="/")
            assert answer.ok and victim.name.encode() in answer.body

    asyncio.run(scenario())
