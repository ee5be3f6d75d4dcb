"""Pydantic models of an experiment's parts: target, load, phases, data checks and SLOs (faults live in faults.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from chaoskit.experiment.requests import PATH_PATTERN, Request
from chaoskit.experiment.units import Duration, Percent, PositiveDuration
from chaoskit.vocab import LoadOrigin, ServiceKind

DNS_LABEL: Final = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
"""Names that end up in labels, metric values and file names: lowercase letters, digits and '-'."""

Selector = dict[str, str]

MAX_MANIFESTS: Final = 100
"""Manifest files of one target: each is read (up to 8 MiB) at validation and again at apply."""
MIN_RATE: Final = 0.01
MAX_RATE: Final = 100_000.0
"""Load rates per address. One load agent core offers ~8,000 req/s keep-alive and ~3,000 new-connection, and
the agent keeps up to rate x timeout requests in flight: a rate beyond this is a typo, not a load test."""
MAX_REQUEST_TIMEOUT_S: Final = 300.0
"""A request that may take longer than 5 minutes is not measuring availability (and holds agent memory)."""


class SpecModel(BaseModel):
    """Base of every spec model: immutable, unknown keys rejected, fields settable by name or YAML alias."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)


def _resolve_manifest(path: Path, info: ValidationInfo) -> Path:
    # Relative paths are relative to the experiment file; the loader passes its directory in the context.
    context: dict[str, Any] = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir") or Path.cwd()
    try:
        resolved = (Path(base) / path.expanduser()).resolve()
        found = resolved.is_file()
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop: not a file either way
        raise PydanticCustomError(
            "manifest_unusable",
            "manifest path cannot be used: {problem}",
            {"problem": str(getattr(exc, "strerror", None) or exc), "hint": "give the path of a manifest file"},
        ) from None
    if not found:
        raise PydanticCustomError(
            "manifest_missing",
            "manifest file not found: {path}",
            {"path": str(resolved), "hint": f"manifest paths are relative to the experiment file ({base})"},
        )
    return resolved


ManifestPath = Annotated[Path, AfterValidator(_resolve_manifest)]


class EmbeddedCluster(SpecModel):
    """Settings of the embedded cluster (``--backend local``); a real cluster has its own and ignores these."""

    nodes: int = Field(default=3, ge=1, le=16, description="Number of logical nodes.")
    node_monitor_grace: PositiveDuration = Field(
        default=40.0,
        description="A failed node turns NotReady (its pods leave the endpoints) this long after it stopped "
        "answering: kube-controller-manager's --node-monitor-grace-period (default 40s). Eviction then follows "
        "each pod's tolerationSeconds (the manifests' tolerations; 300s without).",
    )


class Target(SpecModel):
    """What the experiment runs against: manifests to apply and the pods they create."""

    namespace: str = Field(pattern=DNS_LABEL, description="Namespace of the target workload.")
    manifests: list[ManifestPath] = Field(
        min_length=1, max_length=MAX_MANIFESTS,
        description=f"Kubernetes YAML files, relative to the experiment file (1 to {MAX_MANIFESTS}).",
    )
    selector: Selector = Field(min_length=1, description="Labels of the target pods.")
    replicas: int | None = Field(
        default=None, ge=1, description="Expected number of ready pods, at least 1 (a target with none has nothing "
        "to load or hit); leave it out to use the replicas of the Deployments the selector matches.")
    cluster: EmbeddedCluster = Field(
        default_factory=EmbeddedCluster, description="The embedded cluster's settings (--backend local only)."
    )


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

    rate: float = Field(
        ge=MIN_RATE, le=MAX_RATE, allow_inf_nan=False,
        description=f"Requests per second per service address, {MIN_RATE:g} to {MAX_RATE:,.0f}: one load agent "
        "core offers ~8,000 req/s keep-alive (~3,000 new-connection) and keeps up to rate x timeout requests in "
        "flight, so more is a typo, not a load test.")
    connection: Literal["keepalive", "new-connection"] = Field(
        default="new-connection", description="Reuse connections, or open one per request."
    )
    timeout: PositiveDuration = Field(
        default=2.0, le=MAX_REQUEST_TIMEOUT_S,
        description=f"Per-request timeout, at most {MAX_REQUEST_TIMEOUT_S:g} s (a slower answer is an outage).")
    path: str = Field(default="/", pattern=PATH_PATTERN, description="HTTP path (default of request.path).")
    from_: LoadOrigin = Field(
        default=LoadOrigin.AUTO, alias="from", description="Where the load agent runs."
    )
    services: list[LoadedService] = Field(min_length=1, description="Services to load.")

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

    baseline: PositiveDuration = Field(description="Load only, before any fault (at most 24h, like every phase).")
    chaos: PositiveDuration = Field(description="Faults are injected in this phase.")
    recovery: PositiveDuration = Field(description="Load only, after the last fault.")

    @property
    def total_s(self) -> float:
        return self.baseline + self.chaos + self.recovery


Survival = Literal["survives", "lost", "any"]
VolumeType = Literal["emptyDir", "hostPath", "persistentVolumeClaim"]


class DataExpectation(SpecModel):
    """Whether a marker written before a fault is expected to be readable after it."""

    after_pod_replaced_same_node: Survival = "any"
    after_pod_replaced_other_node: Survival = "any"
    after_container_restart: Survival = "any"


class DataCheck(SpecModel):
    """A volume whose data survival is checked with marker files."""

    volume: str = Field(description="A volume name in the target's pod template.")
    container: str | None = Field(default=None, description="Container that mounts it (default: first).")
    volume_type: VolumeType | None = Field(
        default=None,
        description="The volume's type as the expectations assume it (checked against the pod template): e.g. "
        "persistentVolumeClaim for a StatefulSet's volumeClaimTemplates entry.",
    )
    expect: DataExpectation = Field(default_factory=DataExpectation)


class Slo(SpecModel):
    """Pass/fail thresholds. Unset thresholds are reported but not judged."""

    availability: Percent | None = Field(default=None, description="Minimum per service type, whole run.")
    p99_latency: Duration | None = Field(default=None, description="Maximum p99 latency.")
    recovery: Duration | None = Field(default=None, description="Maximum recovery time on any clock.")
    data: bool = Field(default=True, description="Data expectations must hold.")
