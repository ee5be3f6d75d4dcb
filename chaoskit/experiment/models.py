"""Pydantic models of an experiment's parts: target, load, phases, data checks and SLOs (faults live in faults.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from chaoskit.experiment.requests import PATH_PATTERN, Request
from chaoskit.experiment.units import Duration, Percent, PositiveDuration
from chaoskit.load.plan import MAX_WORKERS, MIN_WORKER_RATE, max_workers
from chaoskit.vocab import LoadOrigin, ServiceKind

DNS_LABEL: Final = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
"""Names that end up in labels, metric values and file names: lowercase letters, digits and '-'."""

Selector = dict[str, str]


class SpecModel(BaseModel):
    """Base of every spec model: immutable, unknown keys rejected, fields settable by name or YAML alias."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)


def _resolve_manifest(path: Path, info: ValidationInfo) -> Path:
    # Relative paths are relative to the experiment file; the loader passes its directory in the context.
    context: dict[str, Any] = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir") or Path.cwd()
    resolved = (Path(base) / path.expanduser()).resolve()
    if not resolved.is_file():
        raise PydanticCustomError(
            "manifest_missing",
            "manifest file not found: {path}",
            {"path": str(resolved), "hint": f"manifest paths are relative to the experiment file ({base})"},
        )
    return resolved


ManifestPath = Annotated[Path, AfterValidator(_resolve_manifest)]


class Target(SpecModel):
    """What the experiment runs against: manifests to apply and the pods they create."""

    namespace: str = Field(pattern=DNS_LABEL, description="Namespace of the target workload.")
    manifests: list[ManifestPath] = Field(
        min_length=1, description="Kubernetes YAML files, relative to the experiment file."
    )
    selector: Selector = Field(min_length=1, description="Labels of the target pods.")
    replicas: int | None = Field(default=None, ge=0, description="Expected number of ready pods.")


class LoadedService(SpecModel):
    """One Service under load and the ways users reach it."""

    name: str = Field(pattern=DNS_LABEL, description="Service name (in the target namespace).")
    types: list[ServiceKind] = Field(min_length=1, description="ClusterIP, NodePort, Headless, LoadBalancer.")
    request: Request = Field(default_factory=Request, description="What each request sends; what counts as success.")

    @field_validator("types")
    @classmethod
    def _unique_types(cls, types: list[ServiceKind]) -> list[ServiceKind]:
        if len(set(types)) != len(types):
            raise PydanticCustomError("duplicate", "service type listed twice", {"hint": "list each type at most once"})
        return types


class Load(SpecModel):
    """Constant-arrival HTTP load: the rate does not drop when the service fails."""

    rate: float = Field(gt=0, allow_inf_nan=False, description="Requests per second per service address.")
    connection: Literal["keepalive", "new-connection"] = Field(
        default="new-connection", description="Reuse connections, or open one per request."
    )
    timeout: PositiveDuration = Field(default=2.0, description="Per-request timeout.")
    path: str = Field(default="/", pattern=PATH_PATTERN, description="HTTP path (default of request.path).")
    from_: LoadOrigin = Field(
        default=LoadOrigin.AUTO, alias="from", description="Where the load agent runs."
    )
    workers: int | Literal["auto"] = Field(
        default=1, description=(
            "Load worker processes (in-cluster: pods) the schedule is spread over, with Locust's distributed "
            "mode; auto: from the rate and the per-worker ceiling."))
    services: list[LoadedService] = Field(min_length=1, description="Services to load.")

    @field_validator("workers")
    @classmethod
    def _workers_split_the_rate(cls, workers: int | str, info: ValidationInfo) -> int | str:
        if workers == "auto":
            return workers
        assert isinstance(workers, int)
        rate = info.data.get("rate")
        limit = max_workers(rate) if isinstance(rate, float | int) else MAX_WORKERS
        if not 1 <= workers <= limit:
            why = "at least 1 (or auto)" if workers < 1 else f"at most {MAX_WORKERS}"
            if workers > limit and isinstance(rate, float | int) and limit < MAX_WORKERS:
                why = (f"at most {limit}: {rate:g} req/s per address over {workers} workers is "
                       f"{rate / workers:.3g} req/s each, under the {MIN_WORKER_RATE:g} req/s a worker needs")
            raise PydanticCustomError("workers", "workers {workers}: {why}", {
                "workers": workers, "why": why,
                "hint": "use workers: auto, or a count between 1 and the rate per address (1 req/s per worker)"})
        return workers

    @field_validator("services")
    @classmethod
    def _unique_services(cls, services: list[LoadedService]) -> list[LoadedService]:
        names = [s.name for s in services]
        if len(set(names)) != len(names):
            raise PydanticCustomError(
                "duplicate", "service listed twice", {"hint": "merge the entries into one `types` list"}
            )
        return services


class Phases(SpecModel):
    """Lengths of the three phases; faults are scheduled relative to the start of chaos."""

    baseline: PositiveDuration = Field(description="Load only, before any fault.")
    chaos: PositiveDuration = Field(description="Faults are injected in this phase.")
    recovery: PositiveDuration = Field(description="Load only, after the last fault.")

    @property
    def total_s(self) -> float:
        return self.baseline + self.chaos + self.recovery


Survival = Literal["survives", "lost", "any"]


class DataExpectation(SpecModel):
    """Whether a marker written before a fault is expected to be readable after it."""

    after_pod_replaced_same_node: Survival = "any"
    after_pod_replaced_other_node: Survival = "any"
    after_container_restart: Survival = "any"


class DataCheck(SpecModel):
    """A volume whose data survival is checked with marker files."""

    volume: str = Field(description="A volume name in the target's pod template.")
    container: str | None = Field(default=None, description="Container that mounts it (default: first).")
    expect: DataExpectation = Field(default_factory=DataExpectation)


class Slo(SpecModel):
    """Pass/fail thresholds. Unset thresholds are reported but not judged."""

    availability: Percent | None = Field(default=None, description="Minimum per service type, whole run.")
    p99_latency: Duration | None = Field(default=None, description="Maximum p99 latency.")
    recovery: Duration | None = Field(default=None, description="Maximum recovery time on any clock.")
    data: bool = Field(default=True, description="Data expectations must hold.")
