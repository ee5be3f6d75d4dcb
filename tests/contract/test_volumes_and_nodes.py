"""Contract: emptyDir lives with the pod, hostPath with the node; cordon, drain and fail move pods."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from chaoskit.cluster.protocol import ClusterError, PodInfo
from tests.contract.conftest import NAMESPACE, manifests

WEB = {"app": "contract-web"}
SCRATCH = "/usr/local/apache2/htdocs/scratch"
NODE_DATA = "/usr/local/apache2/htdocs/node-data"


async def _up(cluster: Any) -> list[PodInfo]:
    await cluster.apply(manifests("web.yaml"))
    return list(await cluster.wait_pods_ready(NAMESPACE, WEB, count=3, timeout_s=90))


async def _replacement(cluster: Any, before: list[PodInfo]) -> PodInfo:
    after = await cluster.wait_pods_ready(NAMESPACE, WEB, count=3, timeout_s=60)
    fresh = [p for p in after if p.name not in {q.name for q in before}]
    assert len(fresh) == 1
    return fresh[0]


async def _restarted(cluster: Any, pod: PodInfo) -> PodInfo:
    for _ in range(200):  # bounded: the kubelet restarts the container and the probe passes again
        current = next((p for p in await cluster.list_pods(NAMESPACE, WEB) if p.uid == pod.uid), None)
        if current is not None and current.restart_count > pod.restart_count and current.ready:
            return current
        await asyncio.sleep(0.1)
    raise AssertionError(f"{pod.name} did not restart")


def test_emptydir_survives_a_container_restart_and_dies_with_the_pod(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            pods = await _up(cluster)
            pod = pods[0]
            await cluster.write_marker(NAMESPACE, pod.name, "httpd", SCRATCH, "kept-marker")
            await cluster.kill_container(NAMESPACE, pod.name, "httpd")
            restarted = await _restarted(cluster, pod)
            assert restarted.ip == pod.ip
            assert await cluster.read_marker(NAMESPACE, pod.name, "httpd", SCRATCH, "kept-marker")
            await cluster.delete_pod(NAMESPACE, pod.name, grace_seconds=0)
            fresh = await _replacement(cluster, pods)
            assert not await cluster.read_marker(NAMESPACE, fresh.name, "httpd", SCRATCH, "kept-marker")

    asyncio.run(scenario())


def test_hostpath_data_stays_on_its_node(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            nodes = [n.name for n in await cluster.list_nodes()]
            pods = await _up(cluster)
            victim = pods[0]
            # A name of this run only: a hostPath outlives every pod, also pods of earlier runs.
            marker = f"node-marker-{secrets.token_hex(4)}"
            await cluster.write_marker(NAMESPACE, victim.name, "httpd", NODE_DATA, marker)
            others = [n for n in nodes if n != victim.node]
            for node in others:  # the replacement can only land on the victim's node
                await cluster.cordon(node)
            await cluster.delete_pod(NAMESPACE, victim.name, grace_seconds=0)
            same = await _replacement(cluster, pods)
            assert same.node == victim.node
            assert await cluster.read_marker(NAMESPACE, same.name, "httpd", NODE_DATA, marker)
            for node in others:
                await cluster.uncordon(node)
            if not others:
                return  # single node: "another node" does not exist here
            await cluster.cordon(victim.node)
            before = await cluster.list_pods(NAMESPACE, WEB)
            await cluster.delete_pod(NAMESPACE, same.name, grace_seconds=0)
            moved = await _replacement(cluster, before)
            assert moved.node != victim.node
            assert not await cluster.read_marker(NAMESPACE, moved.name, "httpd", NODE_DATA, marker)
            await cluster.uncordon(victim.node)

    asyncio.run(scenario())


def test_drain_moves_pods_off_a_cordoned_node(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            nodes = await cluster.list_nodes()
            if len(nodes) < 2:
                pytest.skip("drain needs a second node to move pods to")
            pods = await _up(cluster)
            node = pods[0].node
            evicted = await cluster.drain(node, grace_seconds=1, timeout_s=60)
            assert pods[0].name in evicted
            after = await cluster.wait_pods_ready(NAMESPACE, WEB, count=3, timeout_s=60)
            assert all(p.node != node for p in after)
            assert not next(n for n in await cluster.list_nodes() if n.name == node).schedulable
            await cluster.uncordon(node)
            assert next(n for n in await cluster.list_nodes() if n.name == node).schedulable

    asyncio.run(scenario())


def test_unknown_pod_is_a_clear_error(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            await _up(cluster)
            with pytest.raises(ClusterError, match="no-such-pod"):
                await cluster.delete_pod(NAMESPACE, "no-such-pod", grace_seconds=0)

    asyncio.run(scenario())
