"""Contract: a drain honours PodDisruptionBudgets the way the Eviction API does, on every backend.

The budget keeps 2 of 3 pods available. With nowhere to reschedule, one eviction is allowed and the next
is refused (429) until the drain times out; with another node to go to, each eviction after the first
waits until a replacement is Ready. Every refusal is an EVICTION_REFUSED event the run can report.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chaoskit.cluster.protocol import ClusterEvent, PodInfo, WaitTimeout
from chaoskit.vocab import EventKind
from tests.contract.conftest import NAMESPACE, manifests

WEB = {"app": "contract-web"}
BUDGET = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
          "metadata": {"name": "contract-web", "namespace": NAMESPACE},
          "spec": {"minAvailable": 2, "selector": {"matchLabels": WEB}}}


async def _all_pods_on_one_node(cluster: Any) -> tuple[str, list[str], list[PodInfo]]:
    """Every other node cordoned, web + budget applied: the 3 pods share one node."""
    names = sorted(n.name for n in await cluster.list_nodes())
    if len(names) < 2:
        pytest.skip("needs a second node to reschedule on")
    node, others = names[0], names[1:]
    for other in others:
        await cluster.cordon(other)
    await cluster.apply([*manifests("web.yaml"), BUDGET])
    pods = list(await cluster.wait_pods_ready(NAMESPACE, WEB, count=3, timeout_s=90))
    assert {p.node for p in pods} == {node}
    return node, others, pods


def _of(events: list[ClusterEvent], kind: EventKind) -> list[ClusterEvent]:
    return [e for e in events if e.kind is kind]


def test_a_drain_with_nowhere_to_go_stops_where_the_budget_refuses(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            node, others, pods = await _all_pods_on_one_node(cluster)
            events = cluster.subscribe()
            with pytest.raises(WaitTimeout, match="PodDisruptionBudgets still refuse"):
                await cluster.drain(node, grace_seconds=1, timeout_s=8)
            seen = events.drain()
            events.close()
            evicted = {e.name for e in _of(seen, EventKind.POD_TERMINATING)}
            assert len(evicted) == 1 and evicted <= {p.name for p in pods}
            refused = _of(seen, EventKind.EVICTION_REFUSED)
            assert refused and {e.name for e in refused} <= {p.name for p in pods} - evicted
            assert all(e.node == node for e in refused)
            for name in (node, *others):
                await cluster.uncordon(name)
            await cluster.wait_pods_ready(NAMESPACE, WEB, count=3, timeout_s=60)

    asyncio.run(scenario())


def test_a_drain_evicts_one_pod_at_a_time_as_the_budget_allows(open_cluster: Any) -> None:
    async def scenario() -> None:
        async with open_cluster() as cluster:
            node, others, pods = await _all_pods_on_one_node(cluster)
            for other in others:
                await cluster.uncordon(other)
            events = cluster.subscribe()
            evicted = await cluster.drain(node, grace_seconds=1, timeout_s=120)
            after = await cluster.wait_pods_ready(NAMESPACE, WEB, count=3, timeout_s=60)
            seen = events.drain()
            events.close()
            assert sorted(evicted) == sorted(p.name for p in pods)
            assert all(p.node != node for p in after)
            originals = {p.name for p in pods}
            ready = [e.ts_ns for e in _of(seen, EventKind.POD_READY) if e.name not in originals]
            terminating = sorted(e.ts_ns for e in _of(seen, EventKind.POD_TERMINATING) if e.name in originals)
            assert len(terminating) == 3
            for k, ts in enumerate(terminating[1:], start=1):
                # Before the k-th eviction (counting from 0), k replacements had turned Ready.
                assert sum(r < ts for r in ready) >= k, "an eviction went beyond the budget"
            assert _of(seen, EventKind.EVICTION_REFUSED), "the budget never refused: the drain was not paced"
            await cluster.uncordon(node)

    asyncio.run(scenario())
