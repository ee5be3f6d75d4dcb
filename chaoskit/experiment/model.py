"""The Experiment model: one validated, immutable experiment, plus the helpers the engine schedules from."""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union

from pydantic import Field, ValidationError, ValidationInfo, create_model, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from chaoskit.experiment.diagnostics import diagnose
from chaoskit.experiment.errors import SpecError, SpecIssue
from chaoskit.experiment.faults import MAX_TIMES, FaultSpec
from chaoskit.experiment.models import DNS_LABEL, DataCheck, Load, Phases, Slo, SpecModel, Target

FAULTS_DESCRIPTION = "Empty list: a no-fault control run."


class Experiment(SpecModel):
    """A resilience experiment: load a target, inject faults on a schedule, judge against SLOs.

    This class knows no fault kind: ``Experiment.for_faults(models)`` (``FaultRegistry.experiment_model()``)
    is the model that validates files, with ``faults`` a union of the plugins' spec models on ``kind``.
    """

    name: str = Field(pattern=DNS_LABEL, description="Short identifier (lowercase, digits, '-').")
    description: str = Field(
        min_length=1, description="First line: one-line summary; the rest: what to expect and why."
    )
    target: Target
    load: Load
    phases: Phases
    faults: list[FaultSpec] = Field(default_factory=list, description=FAULTS_DESCRIPTION)
    data: list[DataCheck] = Field(default_factory=list, description="Volumes checked for data survival.")
    slo: Slo = Field(default_factory=Slo)
    metadata: dict[str, str] = Field(default_factory=dict, description="Free labels, copied to the run.")

    @field_validator("faults")
    @classmethod
    def _name_and_schedule(cls, faults: list[FaultSpec], info: ValidationInfo) -> list[FaultSpec]:
        named = [f if f.name else f.model_copy(update={"name": f"{f.kind}-{i}"}) for i, f in enumerate(faults)]
        problems = _duplicate_names(named)
        phases = info.data.get("phases")
        if isinstance(phases, Phases):  # absent when the phases themselves are invalid
            problems += _outside_chaos(named, phases.chaos)
            problems += _outlasting(named, phases.chaos + phases.recovery)
        problems += _too_many_firings(named)
        if problems:
            raise ValidationError.from_exception_data("Experiment", problems)
        return named

    @field_validator("data")
    @classmethod
    def _unique_volumes(cls, data: list[DataCheck]) -> list[DataCheck]:
        seen: set[tuple[str, str | None]] = set()
        for check in data:
            if (check.volume, check.container) in seen:
                raise PydanticCustomError(
                    "duplicate",
                    "volume {volume} is checked twice",
                    {"volume": check.volume, "hint": "keep one entry per volume and container"},
                )
            seen.add((check.volume, check.container))
        return data

    @property
    def summary(self) -> str:
        """The first line of the description (what `chaoskit list` shows)."""
        lines = self.description.strip().splitlines()
        return lines[0].strip() if lines else ""

    @property
    def total_duration_s(self) -> float:
        """Baseline + chaos + recovery, in seconds."""
        return self.phases.total_s

    @classmethod
    def for_faults(cls, models: Sequence[type[FaultSpec]]) -> type[Experiment]:
        """The experiment model whose ``faults`` accept exactly these spec models, told apart by ``kind``."""
        return _with_faults(cls, tuple(models))

    def fault_instants(self) -> list[tuple[float, FaultSpec]]:
        """Every firing of every fault as (seconds after chaos starts, fault), in time order."""
        instants = [(t, i, f) for i, f in enumerate(self.faults) for t in f.schedule.offsets()]
        return [(t, f) for t, _, f in sorted(instants, key=lambda item: (item[0], item[1]))]

    def selector_for(self, fault: FaultSpec) -> Mapping[str, str]:
        """Labels of the pods a fault picks from (its own selector, else the target's)."""
        own = fault.victim_selector()
        return own if own is not None else self.target.selector

    def with_overrides(
        self,
        *,
        baseline: float | None = None,
        chaos: float | None = None,
        recovery: float | None = None,
        rate: float | None = None,
        load_from: str | None = None,
        workers: int | str | None = None,
    ) -> Experiment:
        """A new, re-validated experiment with phase lengths (seconds), load rate, origin or workers replaced.

        Raises SpecError when the result is invalid (e.g. a shorter chaos phase no longer fits the schedule).
        """
        data: dict[str, Any] = self.model_dump(by_alias=True)
        for key, value in (("baseline", baseline), ("chaos", chaos), ("recovery", recovery)):
            if value is not None:
                data["phases"][key] = value
        if rate is not None:
            data["load"]["rate"] = rate
        if load_from is not None:
            data["load"]["from"] = load_from
        if workers is not None:
            data["load"]["workers"] = workers
        try:
            return type(self).model_validate(data)
        except ValidationError as err:
            found = [diagnose(e, type(self)) for e in err.errors()]
            raise SpecError([SpecIssue("overrides", None, None, d.message, d.hint) for d in found]) from None


@functools.cache
def _with_faults(base: type[Experiment], models: tuple[type[FaultSpec], ...]) -> type[Experiment]:
    kinds = [_kind_of(m) for m in models]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"fault kinds registered twice: {sorted(k for k in kinds if kinds.count(k) > 1)}")
    if not models:
        return base
    # A single kind is not a union; pydantic wants the discriminator on unions only.
    member: Any = models[0] if len(models) == 1 else Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007
    return create_model(base.__name__, __base__=base, __module__=base.__module__,
                        faults=(list[member], Field(default_factory=list, description=FAULTS_DESCRIPTION)))


def _kind_of(model: type[FaultSpec]) -> str:
    """The one value of a spec model's ``kind: Literal[...]``."""
    values = typing.get_args(model.model_fields["kind"].annotation)
    if len(values) != 1 or not isinstance(values[0], str):
        raise ValueError(f"{model.__name__}.kind must be Literal['<kind>'], one string")
    return str(values[0])


def _duplicate_names(faults: list[FaultSpec]) -> list[InitErrorDetails]:
    seen: set[str] = set()
    problems: list[InitErrorDetails] = []
    for i, fault in enumerate(faults):
        if fault.name in seen:
            error = PydanticCustomError(
                "duplicate",
                "fault name {name} is used twice",
                {"name": str(fault.name), "hint": "give each fault a unique `name`"},
            )
            problems.append(InitErrorDetails(type=error, loc=(i, fault.kind, "name"), input=fault.name))
        seen.add(str(fault.name))
    return problems


def _outside_chaos(faults: list[FaultSpec], chaos_s: float) -> list[InitErrorDetails]:
    problems: list[InitErrorDetails] = []
    for i, fault in enumerate(faults):
        last = fault.schedule.last_offset  # never the list of offsets: times may be large
        if last < chaos_s:
            continue
        error = PydanticCustomError(
            "schedule_outside_chaos",
            "fault fires at {last} s after chaos starts, but the chaos phase lasts only {chaos} s",
            {
                "last": f"{last:g}",
                "chaos": f"{chaos_s:g}",
                "hint": "need at + every * (times - 1) < phases.chaos: lengthen phases.chaos, "
                "or lower at / every / times",
            },
        )
        problems.append(InitErrorDetails(type=error, loc=(i, fault.kind, "schedule"), input=last))
    return problems


def _too_many_firings(faults: list[FaultSpec]) -> list[InitErrorDetails]:
    total = sum(f.schedule.times for f in faults)
    if total <= MAX_TIMES:
        return []
    error = PydanticCustomError(
        "too_many_firings",
        "the faults fire {total} times in all, more than {limit}",
        {"total": f"{total:,}", "limit": f"{MAX_TIMES:,}",
         "hint": "lower `times` or merge faults: each firing is a task, two events and a row of the report"},
    )
    return [InitErrorDetails(type=error, loc=(), input=total)]


def _outlasting(faults: list[FaultSpec], chaos_and_recovery_s: float) -> list[InitErrorDetails]:
    """Faults still in effect when the run ends (a node that would come back after the recovery phase)."""
    problems: list[InitErrorDetails] = []
    for i, fault in enumerate(faults):
        ends = fault.schedule.offsets()[-1] + fault.lasts_s()
        if fault.lasts_s() <= 0 or ends <= chaos_and_recovery_s:
            continue
        error = PydanticCustomError(
            "fault_outlasts_run",
            "the fault is still in effect {ends} s after chaos starts, but chaos and recovery end after {end} s",
            {
                "ends": f"{ends:g}",
                "end": f"{chaos_and_recovery_s:g}",
                "hint": "need the last firing + its duration <= phases.chaos + phases.recovery: shorten the "
                "fault's duration or lengthen phases.recovery",
            },
        )
        where = "duration" if "duration" in type(fault).model_fields else "schedule"
        problems.append(InitErrorDetails(type=error, loc=(i, fault.kind, where), input=ends))
    return problems
