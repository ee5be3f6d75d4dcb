"""node-drain: cordon a node and evict its pods; the node is uncordoned by the undo, on every exit path."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from pydantic import Field

from chaoskit.cluster.protocol import PodInfo
from chaoskit.experiment.faults import FaultSpec, NodePick
from chaoskit.experiment.models import Selector
from chaoskit.experiment.units import Duration, PositiveDuration
from chaoskit.faults.base import FaultContext, FaultPlugin


class NodeDrain(FaultSpec):
    """Cordon a node and evict its pods (like `kubectl drain`); they are rescheduled elsewhere."""

    kind: Literal["node-drain"]
    node: NodePick = Field(default_factory=NodePick)
    grace: Duration | None = Field(default=None, description="Grace period for evicted pods.")
    timeout: PositiveDuration = Field(default=60.0, description="Give up draining after this long.")
    uncordon_after: PositiveDuration | None = Field(
        default=None, description="Uncordon the node this long after the drain began (a maintenance window; at "
        "once if the drain took longer). Default: when the run ends.")

    def victim_selector(self) -> Selector | None:
        return self.node.selector

    def describe_target(self) -> str:
        return "the node of a random matching pod" if self.node.of_victim else f"node {self.node.name}"


class NodeDrainFault(FaultPlugin):
    kind = "node-drain"
    spec_model = NodeDrain
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
        began = time.monotonic()
        await cluster.drain(node, grace_seconds=self.spec.grace, timeout_s=self.spec.timeout)
        if self.spec.uncordon_after is not None:  # the node comes back; the undo stays (uncordoning is idempotent)
            await asyncio.sleep(max(0.0, began + self.spec.uncordon_after - time.monotonic()))
            await cluster.uncordon(node)
