"""A failed node (local backend only): processes die at once, NotReady after the grace, pods replaced elsewhere."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.manifests import load_manifest_files
from chaoskit.cluster.protocol import EventKind

pytestmark = pytest.mark.local
TARGET = Path(__file__).resolve().parents[2] / "manifests" / "target.yaml"
APP = {"app": "chaoskit-target"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_failed_node_pods_die_then_move() -> None:
    async def scenario() -> None:
        config = LocalClusterConfig(node_monitor_grace_s=1.0, pod_eviction_timeout_s=1.0)
        async with LocalCluster(config, seed=5) as cluster:
            await cluster.apply(load_manifest_files([TARGET]))
            pods = await cluster.wait_pods_ready("chaoskit-demo", APP, count=3, timeout_s=60)
            node = pods[0].node
            assert node is not None
            local = cluster.control.pods_on(node)
            pids = [c.process.pid for p in local for c in p.containers if c.process]
            events = cluster.subscribe()
            await cluster.fail_node(node)
            await asyncio.sleep(0.3)
            assert not any(_alive(pid) for pid in pids), "processes on a failed node must die at once"
            # Like Kubernetes, the API still believes the pod is Ready until the node monitor grace expires.
            assert any(p.ready for p in await cluster.list_pods("chaoskit-demo", APP) if p.node == node)
            after = await cluster.wait_pods_ready("chaoskit-demo", APP, count=3, timeout_s=30)
            for _ in range(50):
                after = await cluster.wait_pods_ready("chaoskit-demo", APP, count=3, timeout_s=30)
                if all(p.node != node for p in after):
                    break
                await asyncio.sleep(0.1)
            assert all(p.node != node for p in after)
            kinds = [e.kind for e in events.drain()]
            assert EventKind.NODE_NOT_READY in kinds
            assert kinds.index(EventKind.NODE_NOT_READY) < kinds.index(EventKind.POD_DELETED)
            assert not next(n for n in await cluster.list_nodes() if n.name == node).ready

    asyncio.run(scenario())
