"""container-restart: kill one container's process; the kubelet restarts it in the same pod."""

from __future__ import annotations

from chaoskit.cluster.protocol import PodInfo
from chaoskit.experiment import ContainerRestart
from chaoskit.faults.base import FaultContext, FaultPlugin, pick_pods


class ContainerRestartFault(FaultPlugin):
    kind = "container-restart"
    spec: ContainerRestart

    async def choose(self, ctx: FaultContext) -> tuple[list[PodInfo], str]:
        return await pick_pods(ctx, self.spec.target), ""

    async def act(self, ctx: FaultContext, victims: list[PodInfo], node: str) -> None:
        for pod in victims:
            container = self.spec.container or pod.containers[0].name
            await ctx.cluster.kill_container(pod.namespace, pod.name, container)
