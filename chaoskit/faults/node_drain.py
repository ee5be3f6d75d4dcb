"""node-drain: cordon a node and evict its pods; the node is uncordoned by the undo, on every exit path."""

from __future__ import annotations

from chaoskit.cluster.protocol import PodInfo
from chaoskit.experiment import NodeDrain
from chaoskit.faults.base import FaultContext, FaultPlugin


class NodeDrainFault(FaultPlugin):
    kind = "node-drain"
    spec: NodeDrain

    async def choose(self, ctx: FaultContext) -> tuple[list[PodInfo], str]:
        selector = self.spec.node.selector or ctx.selector
        pods = [p for p in await ctx.cluster.list_pods(ctx.namespace, selector) if p.ready and not p.terminating]
        if self.spec.node.of_victim:
            if not pods:
                return [], ""
            node = ctx.rng.choice(sorted(pods, key=lambda p: (p.created_ns, p.name))).node or ""
        else:
            node = self.spec.node.name
        return [p for p in pods if p.node == node], node

    async def act(self, ctx: FaultContext, victims: list[PodInfo], node: str) -> None:
        if not node:
            return
        cluster = ctx.cluster

        async def uncordon() -> None:
            await cluster.uncordon(node)

        ctx.undo.push(f"uncordon {node}", uncordon)
        await cluster.drain(node, grace_seconds=self.spec.grace, timeout_s=self.spec.timeout)
