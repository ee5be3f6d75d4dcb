"""Contract: a LoadBalancer Service's ingress address keeps answering while its pods are replaced one by one."""

from __future__ import annotations

import asyncio
from typing import Any

from chaoskit.cluster.protocol import ClusterError, ServiceAddress, ServiceKind
from tests.contract.conftest import NAMESPACE, manifests
from tests.support import http_get, steady_load

LB = {"app": "contract-lb"}


async def _ingress(cluster: Any) -> ServiceAddress:
    """The ingress address, once the load-balancer controller wrote it (bounded)."""
    for _ in range(100):
        try:
            found: list[ServiceAddress] = await cluster.service_addresses(NAMESPACE, "contract-lb",
                                                                          ServiceKind.LOAD_BALANCER)
            (address,) = found
            return address
        except ClusterError:
            await asyncio.sleep(0.1)
    raise AssertionError("no load-balancer ingress address within 10 s")


def test_the_ingress_address_keeps_answering_while_every_pod_is_replaced(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            await cluster.apply(manifests("web-lb.yaml"))
            pods = await cluster.wait_pods_ready(NAMESPACE, LB, count=3, timeout_s=90)
            address = await _ingress(cluster)
            others = {a.host for kind in (ServiceKind.CLUSTER_IP, ServiceKind.NODE_PORT)
                      for a in await cluster.service_addresses(NAMESPACE, "contract-lb", kind)}
            assert address.kind is ServiceKind.LOAD_BALANCER and address.host not in others
            for _ in range(50):  # the data path may still be syncing the new address
                if (await http_get(address.host, address.port)).ok:
                    break
                await asyncio.sleep(0.1)
            load = asyncio.create_task(steady_load(address.host, address.port, rate=10, duration_s=12))
            for victim in pods:  # every pod goes (gracefully), each after the previous replacement is Ready
                await cluster.delete_pod(NAMESPACE, victim.name, grace_seconds=None)
                await cluster.wait_pods_ready(NAMESPACE, LB, count=3, timeout_s=60)
            assert not load.done(), "the pods were not all replaced while the load ran"
            now = {p.name for p in await cluster.list_pods(NAMESPACE, LB) if p.ready and not p.terminating}
            assert now.isdisjoint(p.name for p in pods)
            hits = await load
            assert len(hits) == 120
            assert [h.error for h in hits if not h.ok] == []
            await cluster.remove(manifests("web-lb.yaml"))

    asyncio.run(scenario())
