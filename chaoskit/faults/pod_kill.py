"""pod-kill: force deletion with grace 0 — the process dies at once, nothing drains."""

from __future__ import annotations

from typing import Literal

from chaoskit.cluster.protocol import PodInfo
from chaoskit.experiment.faults import PodFaultSpec
from chaoskit.faults.base import FaultContext, FaultPlugin, pick_pods


class PodKill(PodFaultSpec):
    """Forced pod deletion with grace 0: the process dies at once."""

    kind: Literal["pod-kill"]


class PodKillFault(FaultPlugin):
    kind = "pod-kill"
    spec_model = PodKill
    spec: PodKill

    async def choose(self, ctx: FaultContext) -> tuple[list[PodInfo], str]:
        return await pick_pods(ctx, self.spec.target), ""

    async def act(self, ctx: FaultContext, victims: list[PodInfo], node: str) -> None:
        for pod in victims:
            await ctx.cluster.delete_pod(pod.namespace, pod.name, grace_seconds=0)
