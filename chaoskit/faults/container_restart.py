"""container-restart: kill one container's process; the kubelet restarts it in the same pod."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from chaoskit.cluster.protocol import PodInfo
from chaoskit.experiment.faults import PodFaultSpec
from chaoskit.faults.base import FaultContext, FaultPlugin, pick_pods


class ContainerRestart(PodFaultSpec):
    """Kill one container; the kubelet restarts it inside the same pod (same IP, same volumes)."""

    kind: Literal["container-restart"]
    container: str | None = Field(default=None, description="Container name (default: the first).")

    def container_refs(self) -> Mapping[str, str]:
        return {"container": self.container} if self.container else {}


class ContainerRestartFault(FaultPlugin):
    kind = "container-restart"
    spec_model = ContainerRestart
    restarts_in_place = True
    spec: ContainerRestart

    async def choose(self, ctx: FaultContext) -> tuple[list[PodInfo], str]:
        return await pick_pods(ctx, self.spec.target), ""

    async def act(self, ctx: FaultContext, victims: list[PodInfo], node: str) -> None:
        for pod in victims:
            container = self.spec.container or pod.containers[0].name
            await ctx.cluster.kill_container(pod.namespace, pod.name, container)
