"""Contract: two containers of one pod share an emptyDir, and a process in one sees what the other wrote."""

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
