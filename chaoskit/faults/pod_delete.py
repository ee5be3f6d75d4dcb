"""pod-delete: graceful deletion, like `kubectl delete pod` (the pod's or the given grace period)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chaoskit.cluster.protocol import PodInfo
from chaoskit.experiment.faults import PodFaultSpec
from chaoskit.experiment.units import Duration
from chaoskit.faults.base import FaultContext, FaultPlugin, pick_pods


class PodDelete(PodFaultSpec):
    """Graceful pod deletion (like `kubectl delete pod`); the workload controller replaces the pod."""

    kind: Literal["pod-delete"]
    grace: Duration | None = Field(
        default=None, description="Grace period (default: the pod's terminationGracePeriodSeconds)."
    )


class PodDeleteFault(FaultPlugin):
    kind = "pod-delete"
    spec_model = PodDelete
    spec: PodDelete

    async def choose(self, ctx: FaultContext) -> tuple[list[PodInfo], str]:
        return await pick_pods(ctx, self.spec.target), ""

    async def act(self, ctx: FaultContext, victims: list[PodInfo], node: str) -> None:
        for pod in victims:
            await ctx.cluster.delete_pod(pod.namespace, pod.name, grace_seconds=self.spec.grace)
