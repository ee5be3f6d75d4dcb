"""Fault models: when a fault fires (Schedule), whom it hits (PodPick, NodePick) and one model per fault kind."""

from __future__ import annotations

import math
from typing import Annotated, Any, Final, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from chaoskit.experiment.models import Selector, SpecModel
from chaoskit.experiment.units import Duration, Percent, PositiveDuration

NODE_OF_VICTIM: Final = "node-of-victim"


class Schedule(SpecModel):
    """Fire at ``at`` (seconds after chaos starts), then every ``every`` seconds, ``times`` times in all."""

    at: Duration = Field(default=0.0, description="Offset from the start of the chaos phase.")
    every: PositiveDuration | None = Field(default=None, description="Interval between repetitions.")
    times: int = Field(default=1, ge=1, description="How many times the fault fires.")

    @model_validator(mode="after")
    def _every_needed(self) -> Schedule:
        if self.times > 1 and self.every is None:
            raise PydanticCustomError(
                "schedule",
                "times is {times} but every is not set",
                {"times": self.times, "hint": "add `every: 5s` (the interval between repetitions) or set times: 1"},
            )
        return self

    def offsets(self) -> list[float]:
        """Seconds after the start of chaos at which the fault fires."""
        step = self.every or 0.0
        return [self.at + step * i for i in range(self.times)]


class PodPick(SpecModel):
    """Which pods a fault hits: ``count`` pods or ``percent`` of the matching ones (default one pod)."""

    count: int | None = Field(default=None, ge=1, description="Number of pods (default 1).")
    percent: Annotated[Percent, Field(gt=0)] | None = Field(
        default=None, description="Share of matching pods, rounded up."
    )
    selector: Selector | None = Field(default=None, min_length=1, description="Pod labels (default: target.selector).")
    pick: Literal["random", "oldest", "newest"] = Field(default="random", description="Which pods first.")

    @model_validator(mode="before")
    @classmethod
    def _default_count(cls, data: Any) -> Any:
        # Default to one pod only when neither is given, so that "both set" stays detectable.
        if isinstance(data, dict) and data.get("count") is None and data.get("percent") is None:
            return {**data, "count": 1}
        return data

    @model_validator(mode="after")
    def _count_or_percent(self) -> PodPick:
        if self.count is not None and self.percent is not None:
            raise PydanticCustomError(
                "count_and_percent",
                "both count and percent are set",
                {"hint": "choose one: `count: 1` or `percent: 50%`"},
            )
        return self

    def victims(self, matching: int) -> int:
        """How many of ``matching`` pods to hit (at least one when any match)."""
        if matching <= 0:
            return 0
        if self.percent is not None:
            return max(1, min(matching, math.ceil(self.percent * matching - 1e-9)))
        return min(matching, self.count or 1)


class NodePick(SpecModel):
    """Which node a node fault hits: a node by name, or the node of a random matching pod."""

    name: str = Field(default=NODE_OF_VICTIM, description=f"Node name, or {NODE_OF_VICTIM!r}.")
    selector: Selector | None = Field(
        default=None, min_length=1, description="Labels of the victim pod (default: target.selector)."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `node: worker-2` is shorthand for `node: {name: worker-2}`.
        return {"name": data} if isinstance(data, str) else data

    @property
    def of_victim(self) -> bool:
        return self.name == NODE_OF_VICTIM


class _FaultBase(SpecModel):
    name: str | None = Field(default=None, min_length=1, description="Label of the fault (default: <kind>-<index>).")
    schedule: Schedule = Field(default_factory=Schedule)


class PodDelete(_FaultBase):
    """Graceful pod deletion (like `kubectl delete pod`); the workload controller replaces the pod."""

    kind: Literal["pod-delete"]
    target: PodPick = Field(default_factory=PodPick)
    grace: Duration | None = Field(
        default=None, description="Grace period (default: the pod's terminationGracePeriodSeconds)."
    )


class PodKill(_FaultBase):
    """Forced pod deletion with grace 0: the process dies at once."""

    kind: Literal["pod-kill"]
    target: PodPick = Field(default_factory=PodPick)


class ContainerRestart(_FaultBase):
    """Kill one container; the kubelet restarts it inside the same pod (same IP, same volumes)."""

    kind: Literal["container-restart"]
    target: PodPick = Field(default_factory=PodPick)
    container: str | None = Field(default=None, description="Container name (default: the first).")


class NodeDrain(_FaultBase):
    """Cordon a node and evict its pods (like `kubectl drain`); they are rescheduled elsewhere."""

    kind: Literal["node-drain"]
    node: NodePick = Field(default_factory=NodePick)
    grace: Duration | None = Field(default=None, description="Grace period for evicted pods.")
    timeout: PositiveDuration = Field(default=60.0, description="Give up draining after this long.")


Fault = Annotated[PodDelete | PodKill | ContainerRestart | NodeDrain, Field(discriminator="kind")]
"""One fault, discriminated by ``kind``."""

FAULT_KINDS: Final = ("pod-delete", "pod-kill", "container-restart", "node-drain")
