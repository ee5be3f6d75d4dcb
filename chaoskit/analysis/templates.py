"""What the manifests say about the run's objects, as plain data the findings rules can weigh: per workload
its pod template (preStop hook, grace period, readiness probe, replicas, spread, volumes), the
PodDisruptionBudgets and the Services.

:func:`manifest_facts` reads them from manifests as loaded (plain mappings). It never raises: a field it cannot
read is left at its default, since the backend that applied the manifests has already judged them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from chaoskit.vocab import WORKLOAD_KINDS, pod_template_labels, selector_matches

HOSTNAME_KEY: Final = "kubernetes.io/hostname"
GRACE_DEFAULT_S: Final = 30.0
"""terminationGracePeriodSeconds when the template does not set it (Kubernetes' default)."""


@dataclass(frozen=True)
class ProbeFacts:
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    success_threshold: int = 1
    failure_threshold: int = 3
    timeout_s: float = 1.0


@dataclass(frozen=True)
class ContainerFacts:
    name: str
    image: str = ""
    image_pull_policy: str = ""
    ports: tuple[int, ...] = ()
    pre_stop: str = ""
    """The preStop handler: ``sleep``, ``exec``, ``httpGet``; empty when there is none."""
    pre_stop_sleep_s: float = 0.0
    """How long the preStop hook sleeps (a sleep action, or an exec of ``sleep N``); 0 when unknown or none."""
    readiness: ProbeFacts | None = None


@dataclass(frozen=True)
class VolumeFacts:
    name: str
    type: str
    """``emptyDir``, ``hostPath``, ``persistentVolumeClaim``, ... (the volume source's key)."""


@dataclass(frozen=True)
class WorkloadFacts:
    """One Deployment, StatefulSet, ReplicaSet, DaemonSet, Job or bare Pod."""

    kind: str
    name: str
    namespace: str = ""
    labels: Mapping[str, str] | None = None
    """The pod template's labels."""
    replicas: int | None = None
    """``spec.replicas`` (1 when unset); a bare Pod is 1; None for DaemonSets and Jobs."""
    grace_period_s: float = GRACE_DEFAULT_S
    containers: tuple[ContainerFacts, ...] = ()
    volumes: tuple[VolumeFacts, ...] = ()
    spread: str = ""
    """How replicas are kept off one node: ``topologySpreadConstraints`` or ``podAntiAffinity`` (on
    kubernetes.io/hostname, required or DoNotSchedule); empty when nothing does."""
    pinned: str = ""
    """``nodeName`` or a ``nodeSelector`` on the hostname: the pods can only go to one node."""
    target: bool = False
    """Its pods match the experiment's target selector."""

    @property
    def pre_stop_sleep_s(self) -> float:
        """The longest preStop sleep of its containers (0 without one)."""
        return max((c.pre_stop_sleep_s for c in self.containers), default=0.0)

    @property
    def describe(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class BudgetFacts:
    name: str
    namespace: str = ""
    selector: Mapping[str, str] | None = None
    min_available: str = ""
    """As written (``2`` or ``50%``); empty when unset."""
    max_unavailable: str = ""


@dataclass(frozen=True)
class ServiceFacts:
    name: str
    namespace: str = ""
    type: str = "ClusterIP"
    selector: Mapping[str, str] | None = None
    external_traffic_policy: str = "Cluster"


@dataclass(frozen=True)
class ManifestFacts:
    workloads: tuple[WorkloadFacts, ...] = ()
    budgets: tuple[BudgetFacts, ...] = ()
    services: tuple[ServiceFacts, ...] = ()

    @property
    def known(self) -> bool:
        """False when the engine passed no manifests (an old run analysed again, a test)."""
        return bool(self.workloads)

    def workload_of(self, pod: str) -> WorkloadFacts | None:
        """The workload a pod belongs to, by name: a Deployment's pods are ``<name>-<hash>-<suffix>``, a
        StatefulSet's ``<name>-<ordinal>``, a bare Pod is its own name (the longest match wins)."""
        matches = [w for w in self.workloads if pod == w.name or pod.startswith(f"{w.name}-")]
        return max(matches, key=lambda w: len(w.name), default=None)

    def budgets_for(self, workload: WorkloadFacts) -> tuple[BudgetFacts, ...]:
        return tuple(b for b in self.budgets if b.namespace == workload.namespace and b.selector
                     and selector_matches(b.selector, workload.labels))


def manifest_facts(manifests: Iterable[Mapping[str, Any]], selector: Mapping[str, str]) -> ManifestFacts:
    """The facts the findings rules need, from the run's manifests; ``selector`` is the target's."""
    workloads, budgets, services = [], [], []
    for manifest in manifests:
        kind = manifest.get("kind")
        if kind == "Pod" or kind in WORKLOAD_KINDS:
            workloads.append(_workload(manifest, selector))
        elif kind == "PodDisruptionBudget":
            budgets.append(_budget(manifest))
        elif kind == "Service":
            services.append(_service(manifest))
    return ManifestFacts(tuple(workloads), tuple(budgets), tuple(services))


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _map(value).items()}


def _meta(manifest: Mapping[str, Any]) -> tuple[str, str]:
    meta = _map(manifest.get("metadata"))
    return str(meta.get("name", "")), str(meta.get("namespace", ""))


def _workload(manifest: Mapping[str, Any], selector: Mapping[str, str]) -> WorkloadFacts:
    kind = str(manifest["kind"])
    name, namespace = _meta(manifest)
    spec = _map(manifest.get("spec"))
    pod_spec = spec if kind == "Pod" else _map(_map(spec.get("template")).get("spec"))
    labels = _labels(pod_template_labels(manifest))
    replicas: int | None = 1 if kind == "Pod" else None
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = int(_number(spec.get("replicas"), 1))
    return WorkloadFacts(
        kind=kind, name=name, namespace=namespace, labels=labels, replicas=replicas,
        grace_period_s=_number(pod_spec.get("terminationGracePeriodSeconds"), GRACE_DEFAULT_S),
        containers=tuple(_container(c) for c in _list(pod_spec.get("containers")) if isinstance(c, Mapping)),
        volumes=tuple(_volume(v) for v in _list(pod_spec.get("volumes")) if isinstance(v, Mapping)),
        spread=_spread(pod_spec), pinned=_pinned(pod_spec),
        target=bool(selector) and selector_matches(selector, labels),
    )


def _container(spec: Mapping[str, Any]) -> ContainerFacts:
    handler = _map(_map(spec.get("lifecycle")).get("preStop"))
    kind = next((k for k in ("sleep", "exec", "httpGet", "tcpSocket") if k in handler), "")
    return ContainerFacts(
        name=str(spec.get("name", "")), image=str(spec.get("image", "")),
        image_pull_policy=str(spec.get("imagePullPolicy", "")),
        ports=tuple(int(_number(_map(p).get("containerPort"), 0)) for p in _list(spec.get("ports"))),
        pre_stop=kind, pre_stop_sleep_s=_sleep_seconds(handler),
        readiness=_probe(spec.get("readinessProbe")),
    )


def _sleep_seconds(handler: Mapping[str, Any]) -> float:
    """Seconds of a ``sleep`` action, or of an exec hook that only runs ``sleep N``; else 0."""
    if "sleep" in handler:
        return _number(_map(handler["sleep"]).get("seconds"), 0.0)
    words = [str(w) for w in _list(_map(handler.get("exec")).get("command"))]
    words = " ".join(w for w in words if w not in ("/bin/sh", "sh", "-c")).split()
    if len(words) == 2 and words[0] in ("sleep", "/bin/sleep"):
        try:
            return float(words[1])
        except ValueError:
            return 0.0
    return 0.0


def _probe(value: Any) -> ProbeFacts | None:
    if not isinstance(value, Mapping):
        return None
    return ProbeFacts(
        initial_delay_s=_number(value.get("initialDelaySeconds"), 0.0),
        period_s=_number(value.get("periodSeconds"), 10.0),
        success_threshold=int(_number(value.get("successThreshold"), 1)),
        failure_threshold=int(_number(value.get("failureThreshold"), 3)),
        timeout_s=_number(value.get("timeoutSeconds"), 1.0),
    )


def _volume(spec: Mapping[str, Any]) -> VolumeFacts:
    source = next((str(k) for k in spec if k != "name"), "")
    return VolumeFacts(name=str(spec.get("name", "")), type=source)


def _spread(pod_spec: Mapping[str, Any]) -> str:
    """What keeps two replicas off one node, if anything: a hard constraint on the hostname."""
    for constraint in _list(pod_spec.get("topologySpreadConstraints")):
        entry = _map(constraint)
        if entry.get("topologyKey") == HOSTNAME_KEY and entry.get("whenUnsatisfiable", "DoNotSchedule") == \
                "DoNotSchedule":
            return "topologySpreadConstraints"
    anti = _map(_map(pod_spec.get("affinity")).get("podAntiAffinity"))
    for term in _list(anti.get("requiredDuringSchedulingIgnoredDuringExecution")):
        if _map(term).get("topologyKey") == HOSTNAME_KEY:
            return "podAntiAffinity"
    return ""


def _pinned(pod_spec: Mapping[str, Any]) -> str:
    if pod_spec.get("nodeName"):
        return f"nodeName: {pod_spec['nodeName']}"
    host = _map(pod_spec.get("nodeSelector")).get(HOSTNAME_KEY)
    return f"nodeSelector {HOSTNAME_KEY}: {host}" if host else ""


def _budget(manifest: Mapping[str, Any]) -> BudgetFacts:
    name, namespace = _meta(manifest)
    spec = _map(manifest.get("spec"))

    def amount(key: str) -> str:
        value = spec.get(key)
        return "" if value is None else str(value)

    return BudgetFacts(name=name, namespace=namespace,
                       selector=_labels(_map(spec.get("selector")).get("matchLabels")),
                       min_available=amount("minAvailable"), max_unavailable=amount("maxUnavailable"))


def _service(manifest: Mapping[str, Any]) -> ServiceFacts:
    name, namespace = _meta(manifest)
    spec = _map(manifest.get("spec"))
    return ServiceFacts(name=name, namespace=namespace, type=str(spec.get("type", "ClusterIP")),
                        selector=_labels(spec.get("selector")),
                        external_traffic_policy=str(spec.get("externalTrafficPolicy", "Cluster")))
