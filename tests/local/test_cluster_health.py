"""The local cluster says when its own proxy could not keep up (health_notes), and only then."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.manifests import load_manifest_files
from chaoskit.vocab import ServiceKind

pytestmark = pytest.mark.local
TARGET = Path(__file__).resolve().parents[2] / "manifests" / "target.yaml"
OVERFLOW = 4300
"""More connections than the proxy's accept queue (4096) holds while the proxy is stopped."""


async def _wait_for(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def test_a_cluster_that_kept_up_has_nothing_to_say_and_one_that_dropped_says_so() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with LocalCluster() as cluster:
            await cluster.apply(load_manifest_files([TARGET]))
            await cluster.wait_pods_ready("chaoskit-demo", {"app": "chaoskit-target"}, count=3, timeout_s=60)
            [address, *_] = await cluster.service_addresses("chaoskit-demo", "chaoskit-target", ServiceKind.CLUSTER_IP)
            await _wait_for(lambda: _accepts(address.host, address.port), 15)  # the proxy has synced
            before = cluster.health_notes()
            pid = cluster.proxy_pid
            assert pid is not None
            clients = []
            os.kill(pid, signal.SIGSTOP)  # the proxy accepts nothing while the clients pile up
            try:
                for _ in range(OVERFLOW):
                    client = socket.socket()
                    client.setblocking(False)
                    client.connect_ex((address.host, address.port))
                    clients.append(client)
                await asyncio.sleep(0.3)
            finally:
                os.kill(pid, signal.SIGCONT)
            try:
                await _wait_for(lambda: any("accept queue" in n for n in cluster.health_notes()), 15)
            finally:
                for client in clients:
                    client.close()
            return before, cluster.health_notes()

    before, after = asyncio.run(scenario())
    assert not [n for n in before if n.startswith("the embedded cluster's proxy")], before
    saturated = [n for n in after if n.startswith("the embedded cluster's proxy was saturated")]
    assert saturated and "connections dropped by the kernel accept queue" in saturated[0], after
