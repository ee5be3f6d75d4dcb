"""What every fault spec shares: when it fires (Schedule), whom it hits (PodPick, NodePick) and the base model
(``FaultSpec``) each fault plugin's own spec model extends (``chaoskit/faults/``: one module per kind owns its
model, so the schema and ``validate`` come from the plugins)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from chaoskit.experiment.models import Selector, SpecModel
from chaoskit.experiment.units import MAX_DURATION_S, Duration, Percent, PositiveDuration

NODE_OF_VICTIM: Final = "node-of-victim"
MAX_TIMES: Final = 10_000
"""Firings of one fault (and of all faults together): each is a task, an event pair and a row of the report."""


class Schedule(SpecModel):
    """Fire at ``at`` (seconds after chaos starts), then every ``every`` seconds, ``times`` times in all."""

    at: Duration = Field(default=0.0, description="Offset from the start of the chaos phase.")
    every: PositiveDuration | None = Field(default=None, description="Interval between repetitions.")
    times: int = Field(default=1, ge=1, le=MAX_TIMES,
                       description=f"How many times the fault fires, 1 to {MAX_TIMES:,} (all faults together too).")

    @model_validator(mode="after")
    def _every_needed(self) -> Schedule:
        if self.times > 1 and self.every is None:
            raise PydanticCustomError(
                "schedule",
                "times is {times} but every is not set",
                {"times": self.times, "hint": "add `every: 5s` (the interval between repetitions) or set times: 1"},
            )
        if self.last_offset > MAX_DURATION_S:  # computed, not listed: times may be large
            raise PydanticCustomError(
                "schedule_too_long",
                "the last firing is {last} s after chaos starts, beyond 24h",
                {"last": f"{self.last_offset:g}", "hint": "no phase lasts longer than 24h: lower at, every or times"},
            )
        return self

    @property
    def last_offset(self) -> float:
        """Seconds after the start of chaos of the last firing (computed, nothing allocated)."""
        return self.at + (self.every or 0.0) * (self.times - 1)

    def offsets(self) -> list[float]:
        """Seconds after the start of chaos at which the fault fires (at most MAX_TIMES of them)."""
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


class FaultSpec(SpecModel):
    """The fields every fault has. A plugin's model narrows ``kind`` to ``Literal["its-kind"]`` and adds its own."""

    kind: str = Field(description="The fault kind (a registered fault plugin).")
    name: str | None = Field(default=None, min_length=1, description="Label of the fault (default: <kind>-<index>).")
    schedule: Schedule = Field(default_factory=Schedule)

    def victim_selector(self) -> Selector | None:
        """Labels of the pods this fault picks from, when it has its own (else the target's)."""
        return None

    def container_refs(self) -> Mapping[str, str]:
        """Container names this spec refers to, by field (cross-checked against the pod template)."""
        return {}

    def describe_target(self) -> str:
        """Whom it hits, in a few words (for --dry-run)."""
        return "pods matching the selector"

    def victims_asked(self) -> int:
        """How many pods one firing asks for at least (fewer hit: the run cannot claim it tested this)."""
        return 1

    def lasts_s(self) -> float:
        """How long one firing stays in effect (a failed node's ``duration``); it must end within the run."""
        return 0.0


class PodFaultSpec(FaultSpec):
    """A fault that hits pods chosen by a ``PodPick`` (``target``)."""

    target: PodPick = Field(default_factory=PodPick)

    def victim_selector(self) -> Selector | None:
        return self.target.selector

    def victims_asked(self) -> int:
        return self.target.count if self.target.count is not None else 1

    def describe_target(self) -> str:
        pick = self.target
        amount = f"{pick.percent * 100:g}% of the" if pick.percent is not None else f"{pick.count or 1}"
        return f"{amount} {pick.pick} pod(s) matching the selector"
