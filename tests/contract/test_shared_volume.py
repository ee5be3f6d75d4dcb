"""Contract: two containers of one pod share an emptyDir (a process in one sees what the other wrote) and, on a
real cluster, a network namespace (one reaches the other on localhost); the embedded cluster says it does not."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from tests.contract.conftest import NAMESPACE, manifests

PAIR = {"app": "contract-pair"}
HTTPD_MOUNT = "/usr/local/apache2/htdocs/shared"


def test_containers_of_a_pod_share_an_empty_dir(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            await cluster.apply(manifests("two-containers.yaml"))
            (pod,) = await cluster.wait_pods_ready(NAMESPACE, PAIR, count=1, timeout_s=90)
            token = secrets.token_hex(4)
            await cluster.write_marker(NAMESPACE, pod.name, "httpd", HTTPD_MOUNT, f"in-{token}")
            # The copier process (the other container) copies it; httpd's mount and copier's are one directory.
            for _ in range(100):  # bounded: the copier looks every 0.1 s
                if await cluster.read_marker(NAMESPACE, pod.name, "httpd", HTTPD_MOUNT, f"out-{token}"):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the other container never saw the file")
            assert await cluster.read_marker(NAMESPACE, pod.name, "copier", "/shared", f"out-{token}")
            await cluster.remove(manifests("two-containers.yaml"))

    asyncio.run(scenario())


def test_containers_of_a_pod_reach_each_other_on_localhost(open_cluster: Any, backend: str) -> None:
    """kube: the copier's GET to 127.0.0.1:80 reaches the httpd container of its pod. local: not modelled (each
    container gets the pod IP, not a shared loopback), and the cluster says so in the run's notes."""

    async def scenario() -> None:
        async with open_cluster() as cluster:
            await cluster.apply(manifests("two-containers.yaml"))
            (pod,) = await cluster.wait_pods_ready(NAMESPACE, PAIR, count=1, timeout_s=90)
            if backend == "local":
                notes = " ".join(cluster.notes)
                assert "the pod template of contract-pair has 2 containers (httpd, copier)" in notes
                assert "localhost/127.0.0.1 fails there" in notes
                await cluster.remove(manifests("two-containers.yaml"))
                return
            token = secrets.token_hex(4)
            await cluster.write_marker(NAMESPACE, pod.name, "httpd", HTTPD_MOUNT, f"in-{token}")
            for _ in range(100):  # bounded: the copier looks every 0.1 s
                if await cluster.read_marker(NAMESPACE, pod.name, "copier", "/shared", f"localhost-{token}"):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the copier never got the file from httpd over localhost")
            await cluster.remove(manifests("two-containers.yaml"))

    asyncio.run(scenario())
