"""Typed views of the Kubernetes objects the local cluster honours, parsed with located errors.

Anything that would change behaviour but is not modelled is rejected (never silently ignored);
fields with no effect on what an experiment measures (resources, labels on the Service, ...) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaoskit.cluster.manifests import describe
from chaoskit.cluster.protocol import ManifestError

SUPPORTED_POD_FIELDS = frozenset(
    {"containers", "volumes", "nodeName", "nodeSelector", "terminationGracePeriodSeconds", "topologySpreadConstraints",
     "restartPolicy", "dnsPolicy", "schedulerName", "securityContext", "serviceAccountName",
     "automountServiceAccountToken", "enableServiceLinks", "imagePullSecrets", "priority", "tolerations"}
)
SUPPORTED_CONTAINER_FIELDS = frozenset(
    {"name", "image", "command", "args", "env", "ports", "readinessProbe", "livenessProbe",
     "volumeMounts", "lifecycle", "resources", "imagePullPolicy", "securityContext",
     "terminationMessagePath", "terminationMessagePolicy", "workingDir"}
)
COMMAND_ANNOTATION = "chaoskit.io/local-command"
"""Annotation naming a local command for an image without a built-in stand-in (per container: `.../<name>`)."""


@dataclass(frozen=True, slots=True)
class Probe:
    path: str
    port: int
    initial_delay_s: float
    period_s: float
    timeout_s: float
    success_threshold: int
    failure_threshold: int


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    name: str
    image: str
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, int], ...]
    readiness: Probe | None
    liveness: Probe | None
    mounts: tuple[tuple[str, str], ...]
    """(volume name, mountPath)"""
    pre_stop_sleep_s: float


@dataclass(frozen=True, slots=True)
class VolumeSpec:
    name: str
    kind: str
    """emptyDir | hostPath | persistentVolumeClaim"""
    host_path: str = ""
    claim: str = ""
    """persistentVolumeClaim: the claim's name; empty for a StatefulSet's claim template (``<name>-<pod>``)."""

    def claim_for(self, pod: str) -> str:
        """The claim this volume uses in ``pod`` (a claim template gives each pod its own)."""
        return self.claim or f"{self.name}-{pod}"


@dataclass(frozen=True, slots=True)
class Toleration:
    """One entry of ``spec.tolerations``. Only NoExecute tolerations of the node-lifecycle taints change
    anything locally (no other taints exist), so the others are accepted and have no effect."""

    key: str
    """Empty with operator Exists: every key."""
    operator: str
    value: str
    effect: str
    """Empty: every effect."""
    seconds: float | None
    """tolerationSeconds: how long a NoExecute taint is tolerated; None: forever."""

    def tolerates(self, key: str, effect: str) -> bool:
        """Whether this toleration matches a taint ``key:effect`` without a value (the node taints have none)."""
        key_ok = self.key == key or (not self.key and self.operator == "Exists")
        value_ok = self.operator == "Exists" or self.value == ""
        return key_ok and value_ok and self.effect in ("", effect)


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    """A ``DoNotSchedule`` topology spread constraint on ``kubernetes.io/hostname`` (spread.py)."""

    max_skew: int
    selector: Mapping[str, str]
    honor_taints: bool
    """``nodeTaintsPolicy: Honor``: cordoned and NotReady nodes leave the skew computation (default: they count)."""


@dataclass(frozen=True, slots=True)
class PodTemplate:
    labels: Mapping[str, str]
    containers: tuple[ContainerSpec, ...]
    volumes: tuple[VolumeSpec, ...]
    node_name: str
    node_selector: Mapping[str, str]
    grace_s: float
    restart_always: bool
    tolerations: tuple[Toleration, ...] = ()

    def toleration_seconds(self, taint: str, default_s: float) -> float | None:
        """How long a pod tolerates the NoExecute ``taint`` before it is evicted (None: forever).

        A pod without a matching toleration gets ``default_s``, as the DefaultTolerationSeconds admission plugin
        adds one (300 s) for not-ready and unreachable to every pod that has none.
        """
        matching = [t for t in self.tolerations if t.tolerates(taint, "NoExecute")]
        if not matching:
            return default_s
        if any(t.seconds is None for t in matching):
            return None
        return max(t.seconds for t in matching if t.seconds is not None)
    spread: tuple[SpreadConstraint, ...] = ()

    def port_number(self, port: int | str) -> int | None:
        """Resolve a numeric or named container port."""
        if isinstance(port, int):
            return port
        for container in self.containers:
            for name, number in container.ports:
                if name == port:
                    return number
        return None


@dataclass(frozen=True, slots=True)
class ClaimTemplate:
    """One of a StatefulSet's ``volumeClaimTemplates``: each pod ``<sts>-<i>`` gets claim ``<name>-<sts>-<i>``."""

    name: str
    storage_class: str | None
    """None: the default StorageClass."""


@dataclass(frozen=True, slots=True)
class StatefulSpec:
    """What makes a workload a StatefulSet: stable names, ordered creation and a claim per replica."""

    claim_templates: tuple[ClaimTemplate, ...]
    parallel: bool
    """podManagementPolicy: Parallel (else OrderedReady: one pod at a time, in ordinal order)."""


@dataclass(frozen=True, slots=True)
class Workload:
    """A Deployment (replicas kept), a StatefulSet (``stateful``: stable names and claims) or a bare Pod
    (``controller=False``, never replaced)."""

    namespace: str
    name: str
    replicas: int
    selector: Mapping[str, str]
    template: PodTemplate
    controller: bool
    stateful: StatefulSpec | None = None


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str
    port: int
    target_port: int | str
    node_port: int | None


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    namespace: str
    name: str
    type: str
    selector: Mapping[str, str]
    ports: tuple[ServicePort, ...]
    headless: bool
    local_traffic: bool
    """externalTrafficPolicy: Local"""


class FieldReader:
    """Reads fields of one object; every error names the file, the object and the field path."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self.where = describe(manifest)

    def fail(self, path: str, message: str, hint: str = "") -> ManifestError:
        return ManifestError(f"{self.where}: {path}: {message}", hint=hint)

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping, got {type(value).__name__}")
        return value

    def items(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {type(value).__name__}")
        return value

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, "expected a non-empty string")
        return value

    def number(self, value: Any, path: str, default: float) -> float:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(path, f"expected a non-negative number, got {value!r}")
        return float(value)

    def labels(self, value: Any, path: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.mapping(value, path).items()}

    def only(self, value: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
        for key in value:
            if key not in allowed:
                raise self.fail(
                    f"{path}.{key}", "is not supported by the local backend",
                    hint="remove it, or run this experiment with --backend kube",
                )
