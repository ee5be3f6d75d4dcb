"""node-failure: a node stops answering the control plane without a graceful drain, then comes back by itself.

``stop`` powers it off (its kubelet and pods stop); ``partition`` cuts it from the API server while its pods go
on serving (split brain). What follows is the cluster's own node lifecycle: NotReady after the node monitor
grace period (its pods leave the endpoints), eviction after each pod's ``tolerationSeconds`` for
``node.kubernetes.io/unreachable``, replacements elsewhere (a StatefulSet's only once the node is back and the
old pod is gone). The node comes back ``duration`` after the failure, and on every exit path (the undo).

It needs an explicit opt-in on the command line (``--allow-node-failure``) and refuses, before anything is
applied (exit 2), a single-node cluster, an unknown node, a node that runs chaoskit or its load agent
(``NodeFailures.protected_nodes``), and a backend that cannot fail nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final, Literal

from pydantic import Field

from chaoskit.cluster.protocol import Cluster, NodeFailureAgents, NodeFailures, PodInfo, UnsafeTargetError
from chaoskit.experiment.faults import FaultSpec, NodePick
from chaoskit.experiment.models import Selector
from chaoskit.experiment.units import PositiveDuration
from chaoskit.faults.base import FaultContext, FaultPlugin

OPT_IN_FLAG: Final = "--allow-node-failure"
MAX_DURATION_S: Final = 3600.0


class NodeFailure(FaultSpec):
    """A node fails without a drain (powered off, or cut from the API server) and comes back after `duration`."""

    kind: Literal["node-failure"]
    node: NodePick = Field(default_factory=NodePick)
    mode: Literal["stop", "partition"] = Field(
        default="stop", description="stop: the node is powered off (kubelet and pods stop); partition: it is cut "
                                    "from the API server while its pods keep serving.")
    duration: PositiveDuration = Field(
        le=MAX_DURATION_S, description="How long the node stays failed before it comes back by itself (required; "
                                       "at most 1h), e.g. 20s.")

    def victim_selector(self) -> Selector | None:
        return self.node.selector

    def describe_target(self) -> str:
        where = "the node of a random matching pod" if self.node.of_victim else f"node {self.node.name}"
        return f"{where} ({self.mode} for {self.duration:g} s)"

    def lasts_s(self) -> float:
        return self.duration


class NodeFailureRefused(UnsafeTargetError):
    """A node failure chaoskit will not inject on this cluster (bad input: exit 2, nothing changed)."""


def needs_opt_in(faults: Sequence[FaultSpec]) -> list[str]:
    """Names of the node-failure faults of an experiment: ``chaoskit run`` needs ``--allow-node-failure`` for them."""
    return [f.name or f.kind for f in faults if isinstance(f, NodeFailure)]


class NodeFailureFault(FaultPlugin):
    kind = "node-failure"
    spec_model = NodeFailure
    spec: NodeFailure

    async def preflight(self, cluster: Cluster) -> None:
        if not isinstance(cluster, NodeFailures):
            raise NodeFailureRefused(f"node-failure: the {cluster.backend} backend cannot fail nodes yet",
                                     hint="run it with --backend local, or remove the node-failure fault")
        nodes = [n.name for n in await cluster.list_nodes()]
        if len(nodes) < 2:
            raise NodeFailureRefused(f"node-failure: the cluster has {len(nodes)} node(s); the failed node's pods "
                                     "would have nowhere to go", hint="use a cluster with two or more nodes")
        protected = await cluster.protected_nodes()
        name = self.spec.node.name
        if not self.spec.node.of_victim and name not in nodes:
            raise NodeFailureRefused(f"node-failure: node {name} is not in the cluster",
                                     hint=f"nodes: {', '.join(nodes)}")
        if name in protected:
            raise NodeFailureRefused(f"node-failure: node {name} {protected[name]}",
                                     hint="fail another node, or node-of-victim (it skips such nodes)")
        if all(n in protected for n in nodes):
            raise NodeFailureRefused("node-failure: every node runs chaoskit, its load agent or the control plane",
                                     hint="; ".join(f"{n}: {why}" for n, why in protected.items()))
        if isinstance(cluster, NodeFailureAgents):
            await cluster.check_node_failures()

    async def choose(self, ctx: FaultContext) -> tuple[list[PodInfo], str]:
        cluster = ctx.cluster
        protected = await cluster.protected_nodes() if isinstance(cluster, NodeFailures) else {}
        selector = self.spec.node.selector or ctx.selector
        pods = [p for p in await cluster.list_pods(ctx.namespace, selector) if p.ready and not p.terminating]
        if self.spec.node.of_victim:
            candidates = sorted((p for p in pods if p.node and p.node not in protected),
                                key=lambda p: (p.created_ns, p.name))
            if not candidates:
                return [], ""
            node = ctx.rng.choice(candidates).node or ""
        else:
            node = self.spec.node.name
        if isinstance(cluster, NodeFailureAgents):
            # The agent starts now, before the fault instant is stamped, so the failure takes effect at it.
            async def disarm() -> None:
                await cluster.restore_node(node)

            ctx.undo.push(f"bring node {node} back", disarm)
            await cluster.arm_node(node, mode=self.spec.mode, duration_s=self.spec.duration)
        return [p for p in pods if p.node == node], node

    async def act(self, ctx: FaultContext, victims: list[PodInfo], node: str) -> None:
        cluster = ctx.cluster
        if not node or not isinstance(cluster, NodeFailures):
            return

        async def restore() -> None:
            await cluster.restore_node(node)

        ctx.undo.push(f"bring node {node} back", restore)
        await cluster.fail_node(node, mode=self.spec.mode, duration_s=self.spec.duration)
        await asyncio.sleep(self.spec.duration)
        await cluster.restore_node(node)
