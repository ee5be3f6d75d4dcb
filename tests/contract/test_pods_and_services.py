"""Contract: pods get fresh IPs, Services keep answering, graceful vs force delete, traffic policy Local."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from chaoskit.cluster.protocol import ClusterError, EventKind, ServiceKind
from tests.contract.conftest import NAMESPACE, manifests
from tests.support import http_get, is_local_address, steady_load

WEB = {"app": "contract-web"}


async def _up(cluster: Any, name: str = "web.yaml", count: int = 3) -> list[Any]:
    await cluster.apply(manifests(name))
    selector = WEB if name == "web.yaml" else {"app": "contract-pinned"}
    return list(await cluster.wait_pods_ready(NAMESPACE, selector, count=count, timeout_s=90))


async def _answering(address: Any, *, attempts: int = 50) -> bool:
    """True once the address answers (bounded: the data path may still be syncing)."""
    for _ in range(attempts):
        if (await http_get(address.host, address.port)).ok:
            return True
        await asyncio.sleep(0.1)
    return False


def test_pod_ip_changes_on_recreation(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            pods = await _up(cluster)
            victim = pods[0]
            await cluster.delete_pod(NAMESPACE, victim.name, grace_seconds=0)
            after = await cluster.wait_pods_ready(NAMESPACE, WEB, count=3, timeout_s=60)
            fresh = [p for p in after if p.name not in {q.name for q in pods}]
            assert len(fresh) == 1
            assert fresh[0].ip != victim.ip
            assert fresh[0].uid != victim.uid
            assert victim.ip not in {p.ip for p in after}

    asyncio.run(scenario())


def test_clusterip_and_nodeport_keep_answering_while_a_pod_is_deleted(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            pods = await _up(cluster)
            cip = (await cluster.service_addresses(NAMESPACE, "contract-web", ServiceKind.CLUSTER_IP))[0]
            nodeport = (await cluster.service_addresses(NAMESPACE, "contract-web-np", ServiceKind.NODE_PORT))[0]
            assert await _answering(cip) and await _answering(nodeport)
            loads = [asyncio.create_task(steady_load(a.host, a.port, rate=20, duration_s=4)) for a in (cip, nodeport)]
            await asyncio.sleep(1)
            await cluster.delete_pod(NAMESPACE, pods[1].name, grace_seconds=None)
            for hits in await asyncio.gather(*loads):
                assert len(hits) == 80
                for second in range(4):  # every second of the run had answers: the Service never went dark
                    bucket = [h for h in hits if hits[0].start_ns + second * 1e9 <= h.start_ns
                              < hits[0].start_ns + (second + 1) * 1e9]
                    assert any(h.ok for h in bucket), f"no answer in second {second}"

    asyncio.run(scenario())


def test_graceful_delete_with_prestop_loses_no_request_at_low_rate(open_cluster: Any) -> None:
    """The pod leaves the endpoints at once but serves through its preStop sleep, so no request fails."""

    async def scenario() -> None:
        async with open_cluster() as cluster:
            pods = await _up(cluster)
            cip = (await cluster.service_addresses(NAMESPACE, "contract-web", ServiceKind.CLUSTER_IP))[0]
            assert await _answering(cip)
            load = asyncio.create_task(steady_load(cip.host, cip.port, rate=10, duration_s=5))
            await asyncio.sleep(1)
            await cluster.delete_pod(NAMESPACE, pods[0].name, grace_seconds=None)
            hits = await load
            assert len(hits) == 50
            assert [h.error for h in hits if not h.ok] == []

    asyncio.run(scenario())


def test_force_kill_errors_stop_once_the_data_path_has_converged(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            pods = await _up(cluster)
            cip = (await cluster.service_addresses(NAMESPACE, "contract-web", ServiceKind.CLUSTER_IP))[0]
            assert await _answering(cip)
            events = cluster.subscribe()
            load = asyncio.create_task(steady_load(cip.host, cip.port, rate=50, duration_s=5))
            await asyncio.sleep(1)
            victim = pods[2]
            killed_ns = time.time_ns()
            await cluster.delete_pod(NAMESPACE, victim.name, grace_seconds=0)
            hits = await load
            seen = events.drain()
            events.close()
            # The data path's own word where the backend has one (local proxy), else the control plane's.
            wanted = EventKind.PROXY_SYNCED if cluster.backend == "local" else EventKind.ENDPOINT_REMOVED
            removed = [e.ts_ns for e in seen if e.kind is wanted and e.service == "contract-web"
                       and e.ts_ns >= killed_ns and victim.ip not in e.detail.split(",")
                       and (wanted is EventKind.PROXY_SYNCED or e.ip == victim.ip)]
            assert removed, "the victim never left the Service"
            slack_ns = 0 if cluster.backend == "local" else 2_000_000_000  # kube-proxy's sync is not observable
            late = [h for h in hits if not h.ok and h.start_ns > min(removed) + slack_ns]
            assert late == [], f"{len(late)} failures started after the data path converged"
            assert sum(h.ok for h in hits) >= len(hits) // 2

    asyncio.run(scenario())


def test_local_traffic_policy_does_not_reach_a_node_without_a_pod(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            nodes = await cluster.list_nodes()
            if len(nodes) < 2:
                return  # a single-node cluster has no node without the pod
            # kube-proxy serves a node's own traffic to its NodePort through the cluster path ("route
            # LOCAL traffic to cluster IP"), so a node can only be seen to drop from outside it: keep
            # the pod off a node this host is not.
            outside = [n for n in nodes if not (cluster.backend == "kube" and is_local_address(n.address))]
            if not outside:
                pytest.skip("every node is this host: no node to probe from outside")
            empty = outside[0].name
            await cluster.cordon(empty)
            try:
                pod = (await _up(cluster, "local-policy.yaml", count=1))[0]
            finally:
                await cluster.uncordon(empty)
            addresses = await cluster.service_addresses(NAMESPACE, "contract-pinned", ServiceKind.NODE_PORT)
            with_pod = [a for a in addresses if a.node == pod.node]
            without = [a for a in addresses if a.node == empty]
            assert pod.node != empty and with_pod and without
            assert await _answering(with_pod[0])
            for address in without:
                hit = await http_get(address.host, address.port, timeout_s=1.0)
                assert not hit.ok, f"{address.node} has no pod but answered"

    asyncio.run(scenario())


def test_headless_service_resolves_to_the_ready_pod_ips(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            pods = await _up(cluster)
            addresses = []
            for _ in range(50):  # bounded: endpoints follow readiness
                addresses = await cluster.service_addresses(NAMESPACE, "contract-web-headless", ServiceKind.HEADLESS)
                if len(addresses) == 3:
                    break
                await asyncio.sleep(0.1)
            assert sorted(a.host for a in addresses) == sorted(p.ip for p in pods)
            for address in addresses:
                assert await _answering(address)
            with pytest.raises(ClusterError, match="headless"):
                await cluster.service_addresses(NAMESPACE, "contract-web-headless", ServiceKind.CLUSTER_IP)

    asyncio.run(scenario())


def test_a_subscription_made_after_the_pods_are_up_starts_with_their_state(open_cluster: Any) -> None:
    """Objects that predate a subscription are still known: ready pods and endpoints come first, with the
    moment they were first seen, so an analysis knows the Service routed to them before any fault."""

    async def scenario() -> None:
        async with open_cluster() as cluster:
            pods = await _up(cluster)
            ips = {p.ip for p in pods}
            await _answering((await cluster.service_addresses(NAMESPACE, "contract-web",
                                                               ServiceKind.CLUSTER_IP))[0])  # fmt: skip
            # A pod is Ready in the API a moment before the EndpointSlice lists it: subscribe again (bounded)
            # until the slice has caught up; each replay must date every object before the subscription.
            for _ in range(50):
                subscribed_ns = time.time_ns()
                events = cluster.subscribe()
                state = events.drain()
                events.close()
                assert all(e.ts_ns <= subscribed_ns for e in state)
                added = {e.ip for e in state if e.kind is EventKind.ENDPOINT_ADDED and e.service == "contract-web"}
                if added == ips:
                    break
                await asyncio.sleep(0.2)
            assert added == ips
            ready = {e.name for e in state if e.kind is EventKind.POD_READY}
            assert ready >= {p.name for p in pods}
            if cluster.backend == "local":  # the backend that sees its data path says what it forwards to
                assert await _data_path_state(cluster) == ips

    asyncio.run(scenario())


async def _data_path_state(cluster: Any) -> set[str]:
    """What a fresh subscription says the contract-web data path forwards to, once it reaches every pod
    (bounded: the proxy batches endpoint changes, at most one sync a second)."""
    forwards: set[str] = set()
    for _ in range(50):
        events = cluster.subscribe()
        state = events.drain()
        events.close()
        synced = [e for e in state if e.kind is EventKind.PROXY_SYNCED and e.service == "contract-web"]
        forwards = set(synced[-1].detail.split(",")) if synced else set()
        if len(forwards) == 3:
            break
        await asyncio.sleep(0.1)
    return forwards

