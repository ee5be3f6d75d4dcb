"""Pydantic models of an experiment's parts: target, load, phases, data checks and SLOs (faults live in faults.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from chaoskit.experiment.requests import PATH_PATTERN, Request
from chaoskit.experiment.units import Duration, Percent, PositiveDuration
from chaoskit.load.plan import MAX_WORKERS, MIN_WORKER_RATE, max_workers
from chaoskit.vocab import LoadOrigin, ServiceKind

DNS_LABEL: Final = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
"""Names that end up in labels, metric values and file names: lowercase letters, digits and '-'."""

DNS_SUBDOMAIN: Final = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
"""Object names (metadata.name of a workload)."""
MARKER_DIR: Final = r"^([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)?$"
"""A relative directory (``.`` and ``..`` parts are refused by a validator: markers stay inside the volume)."""

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


WorkloadKind = Literal["Deployment", "StatefulSet", "ReplicaSet", "DaemonSet"]
PORT_NAME: Final = r"^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$"
"""A Service port name (IANA service name: up to 15 characters; at least one letter, checked by a validator)."""


class WorkloadRef(SpecModel):
    """A workload that already runs in the target namespace."""

    kind: WorkloadKind = Field(description="Deployment, StatefulSet, ReplicaSet or DaemonSet.")
    name: str = Field(pattern=DNS_SUBDOMAIN, description="Its metadata.name.")


class Target(SpecModel):
    """What the experiment runs against: manifests chaoskit applies (and deletes), or, without manifests, what
    already runs in the namespace (``--backend kube``), which chaoskit only reads; its faults act on the pods."""

    namespace: str = Field(pattern=DNS_LABEL, description="Namespace of the target workload.")
    manifests: list[ManifestPath] = Field(
        default_factory=list, max_length=MAX_MANIFESTS,
        description=f"Kubernetes YAML files, relative to the experiment file (1 to {MAX_MANIFESTS}). Leave it out "
        "to test what already runs in the namespace (--backend kube): chaoskit then never creates, changes or "
        "deletes those objects.")
    selector: Selector = Field(
        default_factory=dict, description="Labels of the target pods. Without manifests: this, or `workload` (whose "
        "matchLabels it then adds to).")
    workload: WorkloadRef | None = Field(
        default=None, description="Without manifests: the running workload under test; the selector and the "
        "replica count come from it.")
    replicas: int | None = Field(
        default=None, ge=1, description="Expected number of ready pods, at least 1 (a target with none has nothing "
        "to load or hit); leave it out to use the replicas of the workloads the selector matches.")
    cluster: EmbeddedCluster = Field(
        default_factory=EmbeddedCluster, description="The embedded cluster's settings (--backend local only)."
    )

    @model_validator(mode="after")
    def _one_way_to_name_pods(self) -> Target:
        problem = _target_problem(self)
        if problem is not None:
            field, code, message, hint = problem
            error = PydanticCustomError(code, message, {"hint": hint})
            raise ValidationError.from_exception_data(
                "Target", [InitErrorDetails(type=error, loc=(field,), input=getattr(self, field))])
        return self

    @property
    def existing(self) -> bool:
        """True when the target is what already runs (no manifests): chaoskit only reads it."""
        return not self.manifests


def _target_problem(target: Target) -> tuple[str, str, str, str] | None:
    """(field, code, message, hint) of the first way the target names its pods wrongly, else None."""
    if target.manifests and target.workload is not None:
        return ("workload", "workload_with_manifests", "workload names a running object, but manifests are given",
                "with manifests, name the pods by `selector`; leave `manifests` out to test the running workload")
    if target.workload is None and not target.selector:
        return ("selector", "no_selector", "the target's pods are not named", "set `selector` (pod labels)" + (
            "" if target.manifests else ", or `workload: {kind: Deployment, name: ...}`"))
    return None


class LoadedService(SpecModel):
    """One Service under load and the ways users reach it."""

    name: str = Field(pattern=DNS_LABEL, description="Service name (in the target namespace).")
    types: list[ServiceKind] = Field(min_length=1, description="ClusterIP, NodePort, Headless, LoadBalancer.")
    request: Request = Field(default_factory=Request, description="What each request sends; what counts as success.")
    port: int | str | None = Field(
        default=None, description="Which of the Service's ports, by name or number (default: the one named http, "
        "else the first).")

    @field_validator("port")
    @classmethod
    def _port_name_or_number(cls, port: int | str | None) -> int | str | None:
        hint = "give the port's name (spec.ports[].name) or its number (spec.ports[].port, 1 to 65535)"
        if isinstance(port, int) and not 1 <= port <= 65535:
            raise PydanticCustomError("port_range", "port {port} is not a port number", {"port": port, "hint": hint})
        if isinstance(port, str) and (port.isdigit() or not re.fullmatch(PORT_NAME, port)):
            raise PydanticCustomError("port_name", "port '{port}' is not a port name", {"port": port, "hint": hint})
        return port

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
    workers: int | Literal["auto"] = Field(
        default=1, description=(
            "Load worker processes (in-cluster: pods) the schedule is spread over, with Locust's distributed "
            "mode; auto: from the rate and the per-worker ceiling."))
    services: list[LoadedService] = Field(
        default_factory=list, description="Services to load. Leave it out to load every Service whose selector "
        "matches the target's pods, each through the ways its type offers.")

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
    path: str = Field(
        default="", pattern=MARKER_DIR, max_length=255,
        description="Directory inside the volume, relative to its mount path, where the marker files go "
        "(default: the mount root). It must exist; the markers are removed at the end of the run.")
    volume_type: VolumeType | None = Field(
        default=None,
        description="The volume's type as the expectations assume it (checked against the pod template): e.g. "
        "persistentVolumeClaim for a StatefulSet's volumeClaimTemplates entry.",
    )
    expect: DataExpectation = Field(default_factory=DataExpectation)

    @field_validator("path")
    @classmethod
    def _inside_the_volume(cls, path: str) -> str:
        if any(part in (".", "..") for part in path.split("/")):
            raise PydanticCustomError("path_leaves_volume", "path '{path}' has a '.' or '..' part", {
                "path": path, "hint": "give a directory below the mount path, e.g. data/markers"})
        return path


class Slo(SpecModel):
    """Pass/fail thresholds. Unset thresholds are reported but not judged."""

    availability: Percent | None = Field(default=None, description="Minimum per service type, whole run.")
    p99_latency: Duration | None = Field(default=None, description="Maximum p99 latency.")
    recovery: Duration | None = Field(default=None, description="Maximum recovery time on any clock.")
    data: bool = Field(default=True, description="Data expectations must hold.")
