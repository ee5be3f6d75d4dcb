"""Check a valid experiment against its manifests: selector, volumes, containers and Services must exist.

Runs before anything touches a cluster, so a typo in a volume name fails at `chaoskit validate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from yaml import YAMLError

from chaoskit.discovery import DiscoveryError, FoundService, discover
from chaoskit.experiment.diagnostics import Loc
from chaoskit.experiment.model import Experiment
from chaoskit.serviceports import PortChoiceError, choose_port
from chaoskit.vocab import CLUSTER_SCOPED_KINDS, WORKLOAD_KINDS, ServiceKind, selector_matches
from chaoskit.yamllimits import MANIFEST_LIMITS, YamlLimitError, check_byte_count, safe_load_all

# Which Service types can serve each way of reaching a Service.
_SERVES: Final = {
    ServiceKind.CLUSTER_IP: {"ClusterIP", "NodePort", "LoadBalancer"},
    ServiceKind.NODE_PORT: {"NodePort", "LoadBalancer"},
    ServiceKind.LOAD_BALANCER: {"LoadBalancer"},
}


@dataclass(frozen=True, slots=True)
class Problem:
    loc: Loc
    message: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class _Template:
    """One pod template of the manifests: a bare Pod's spec or a workload's ``spec.template``."""

    name: str
    kind: str
    labels: dict[str, Any]
    spec: dict[str, Any]
    claim_templates: tuple[str, ...] = ()
    """A StatefulSet's ``volumeClaimTemplates`` names (volumes of type persistentVolumeClaim in its pods)."""

    def volume_types(self) -> dict[str, str]:
        """volume name -> type (``emptyDir``, ``hostPath``, ``persistentVolumeClaim``, ...)."""
        types = {name: "persistentVolumeClaim" for name in self.claim_templates}
        for volume in self.spec.get("volumes") or []:
            if isinstance(volume, Mapping) and "name" in volume:
                kinds = [k for k in volume if k != "name"]
                types[str(volume["name"])] = str(kinds[0]) if kinds else ""
        return types

    def mounted_by(self, volume: str) -> list[str]:
        """Containers that mount ``volume``."""
        return [str(c.get("name")) for c in _maps(self.spec.get("containers"))
                if any(m.get("name") == volume for m in _maps(c.get("volumeMounts")))]


@dataclass(slots=True)
class _Inventory:
    templates: list[_Template] = field(default_factory=list)
    """Every pod template in the target namespace."""
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Service name -> spec."""


def cross_check(experiment: Experiment) -> list[Problem]:
    """Every mismatch between the experiment and the objects its manifests define. Without manifests (the target
    already runs) there is nothing to read here: ``checked_at_run_time`` says what the run checks instead."""
    if experiment.target.existing:
        return []
    inventory, problems = _read_inventory(experiment)
    if problems:
        return problems
    return problems + _check_inventory(experiment, inventory, experiment.target.selector, where="in the manifests")


def cross_check_objects(experiment: Experiment, objects: Iterable[Mapping[str, Any]], selector: Mapping[str, str],
                        *, where: str) -> list[Problem]:
    """The same checks against objects that already run (as the API server lists them); ``selector`` names the
    target's pods (a workload's own), ``where`` says where they were looked for (``in namespace shop``)."""
    inventory = _Inventory()
    for obj in objects:
        _add(inventory, obj, str(_map(obj.get("metadata")).get("name", "?")))
    return _check_inventory(experiment, inventory, selector, where=where)


def checked_at_run_time(experiment: Experiment) -> list[str]:
    """What ``validate`` cannot check for a target that already runs (no cluster here): the run checks it before
    anything changes."""
    target = experiment.target
    named = (f"{target.workload.kind} {target.workload.name} exists" if target.workload is not None
             else f"pods match {_labels(target.selector)}")
    what = [f"{named} in namespace {target.namespace}"]
    if experiment.load.services:
        what.append("the Services " + ", ".join(s.name for s in experiment.load.services) + " and their ports exist")
    else:
        what.append("Services whose selector matches the target's pods are found and loaded")
    if experiment.data:
        what.append("the checked volumes (" + ", ".join(d.volume for d in experiment.data) + ") are in the pods")
    if any(f.container_refs() for f in experiment.faults):
        what.append("the containers the faults name are in the pods")
    return what


def _check_inventory(experiment: Experiment, inventory: _Inventory, selector: Mapping[str, str], *,
                     where: str) -> list[Problem]:
    pods = [t for t in inventory.templates if _matches(selector, t.labels)]
    if not pods:
        found = ", ".join(f"{t.name} ({_labels(t.labels)})" for t in inventory.templates) or "none"
        return [
            Problem(
                ("target", "selector"),
                f"no pod template {where} has labels {_labels(selector)}",
                f"pod templates found: {found}",
            )
        ]
    return (_check_data(experiment, pods) + _check_services(experiment, inventory.services, where=where)
            + _check_discovery(experiment, inventory, pods))


def _check_discovery(experiment: Experiment, inventory: _Inventory, pods: list[_Template]) -> list[Problem]:
    """With ``load.services`` left out, the Services found must be loadable (one at least, each port clear)."""
    if experiment.load.services:
        return []
    try:
        discover(_service_objects(inventory), [t.labels for t in pods], live=False)
    except DiscoveryError as err:
        return [Problem(("load",), f"load.services is left out and {err}", err.hint)]
    return []


def discovered(experiment: Experiment) -> list[FoundService]:
    """The Services a manifests experiment without ``load.services`` loads (empty when it lists them, or has no
    manifests: those are found at run time)."""
    if experiment.load.services or experiment.target.existing:
        return []
    inventory, _ = _read_inventory(experiment)
    pods = [t for t in inventory.templates if _matches(experiment.target.selector, t.labels)]
    try:
        return discover(_service_objects(inventory), [t.labels for t in pods], live=False)
    except DiscoveryError:
        return []


def _service_objects(inventory: _Inventory) -> list[dict[str, Any]]:
    return [{"metadata": {"name": name}, "spec": spec} for name, spec in inventory.services.items()]


def _read_inventory(experiment: Experiment) -> tuple[_Inventory, list[Problem]]:
    inventory, problems = _Inventory(), []
    namespace = experiment.target.namespace
    seen: set[Path] = set()
    for i, path in enumerate(experiment.target.manifests):
        if path in seen:  # listed twice: read once (each file may be megabytes)
            continue
        seen.add(path)
        try:
            objects = list(_objects(path))
        except YamlLimitError as err:
            problems.append(Problem(("target", "manifests", i), f"manifest {err.located(str(path))}", err.hint))
            continue
        except (OSError, ValueError, YAMLError) as err:  # ValueError: a value no YAML constructor can build
            problems.append(Problem(("target", "manifests", i), f"cannot read manifest: {err}".strip()))
            continue
        for obj in objects:
            meta = _map(obj.get("metadata"))
            own = meta.get("namespace") if obj.get("kind") not in CLUSTER_SCOPED_KINDS else None
            if own and str(own) != namespace:
                problems.append(Problem(
                    ("target", "manifests", i),
                    f"{obj.get('kind', '?')} {meta.get('name', '?')} in {path.name} is in namespace {own}, "
                    f"not the target's namespace {namespace}",
                    f"remove metadata.namespace (objects without one go into target.namespace, as with "
                    f"`kubectl apply -n {namespace}`) or set it to {namespace}"))
                continue
            _add(inventory, obj, str(meta.get("name", "?")))
    return inventory, problems


def _add(inventory: _Inventory, obj: Mapping[str, Any], name: str) -> None:
    # Malformed manifests are the cluster backend's to report; here they just contribute nothing.
    kind, spec = obj.get("kind"), _map(obj.get("spec"))
    if kind == "Service":
        inventory.services[name] = spec
    elif kind == "Pod":
        labels = _map(_map(obj.get("metadata")).get("labels"))
        inventory.templates.append(_Template(name, "Pod", labels, spec))
    elif kind in WORKLOAD_KINDS:
        template = _map(spec.get("template"))
        labels = _map(_map(template.get("metadata")).get("labels"))
        claims = tuple(str(_map(c.get("metadata")).get("name")) for c in _maps(spec.get("volumeClaimTemplates")))
        inventory.templates.append(_Template(name, str(kind), labels, _map(template.get("spec")), claims))


def _map(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[dict[str, Any]]:
    """The mappings of a list (containers, volumes, volumeMounts); anything else contributes nothing."""
    return [dict(item) for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _names(items: Any) -> set[str]:
    """The ``name`` of every mapping in a list (containers, volumes)."""
    if not isinstance(items, list):
        return set()
    return {str(item["name"]) for item in items if isinstance(item, Mapping) and "name" in item}


def _objects(path: Path) -> Iterator[Mapping[str, Any]]:
    # The same reader and limits as the cluster backends (chaoskit/cluster/manifests.py) use to apply them.
    check_byte_count(path.stat().st_size, MANIFEST_LIMITS)
    for doc in safe_load_all(path.read_text(encoding="utf-8"), MANIFEST_LIMITS):
        if isinstance(doc, Mapping) and doc.get("kind") == "List":
            yield from (item for item in doc.get("items") or [] if isinstance(item, Mapping))
        elif isinstance(doc, Mapping):
            yield doc


def _check_data(experiment: Experiment, pods: list[_Template]) -> list[Problem]:
    types: dict[str, str] = {}
    for pod in pods:
        types.update(pod.volume_types())
    volumes = sorted(types)
    containers = sorted(set().union(*(_names(t.spec.get("containers")) for t in pods)))
    problems = []
    for i, check in enumerate(experiment.data):
        if check.volume not in types:
            problems.append(_undeclared(("data", i, "volume"), check.volume, check.volume_type, pods, volumes))
        elif check.volume_type is not None and types[check.volume] != check.volume_type:
            problems.append(Problem(
                ("data", i, "volume_type"),
                f"volume '{check.volume}' is {_article(types[check.volume])} {types[check.volume]}, not "
                f"{_article(check.volume_type)} {check.volume_type}",
                f"remove volume_type or set it to {types[check.volume]}: the expectations of a "
                f"{check.volume_type} do not hold for {_article(types[check.volume])} {types[check.volume]}"))
        if check.container is not None and check.container not in containers:
            problems.append(_no_container(("data", i, "container"), check.container, containers))
    for i, fault in enumerate(experiment.faults):
        for field_name, container in fault.container_refs().items():
            if container not in containers:
                problems.append(_no_container(("faults", i, fault.kind, field_name), container, containers))
    return problems


def _undeclared(loc: Loc, volume: str, volume_type: str | None, pods: list[_Template],
                volumes: list[str]) -> Problem:
    """A checked volume no pod template declares: say what is missing, a claim template above all."""
    for pod in pods:
        mounters = pod.mounted_by(volume)
        wants_claim = bool(mounters) or volume_type == "persistentVolumeClaim"
        if pod.kind == "StatefulSet" and not pod.claim_templates and wants_claim:
            mounted = f"container '{mounters[0]}' mounts it, but " if mounters else ""
            return Problem(loc, f"volume '{volume}' is not declared: {mounted}StatefulSet '{pod.name}' has no "
                                "volumeClaimTemplates (and no volume of that name)",
                           f"add a volumeClaimTemplates entry with metadata.name: {volume} to StatefulSet "
                           f"'{pod.name}' (one claim per replica), or a volume named {volume}")
    return Problem(loc, f"volume '{volume}' is not in the target's pod template",
                   f"volumes there: {', '.join(volumes) or 'none'}")


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _no_container(loc: Loc, name: str, containers: list[str]) -> Problem:
    return Problem(
        loc,
        f"container '{name}' is not in the target's pod template",
        f"containers there: {', '.join(containers) or 'none'}",
    )


def _check_services(experiment: Experiment, services: dict[str, dict[str, Any]], *, where: str) -> list[Problem]:
    problems = []
    for i, loaded in enumerate(experiment.load.services):
        spec = services.get(loaded.name)
        if spec is None:
            problems.append(
                Problem(
                    ("load", "services", i, "name"),
                    f"Service '{loaded.name}' is not defined {where}",
                    f"Services there: {', '.join(sorted(services)) or 'none'}",
                )
            )
            continue
        svc_type, headless = str(spec.get("type", "ClusterIP")), spec.get("clusterIP") == "None"
        for j, kind in enumerate(loaded.types):
            ok = headless if kind is ServiceKind.HEADLESS else (svc_type in _SERVES[kind] and not headless)
            if not ok:
                shown = "headless" if headless else svc_type
                problems.append(
                    Problem(
                        ("load", "services", i, "types", j),
                        f"Service '{loaded.name}' is {shown}, it cannot be reached as {kind.value}",
                        _type_hint(kind),
                    )
                )
        try:  # a Service without ports is the backend's to refuse; a port named here must be there
            if loaded.port is not None:
                choose_port({"metadata": {"name": loaded.name}, "spec": spec}, loaded.port, discovering=False)
        except PortChoiceError as err:
            problems.append(Problem(("load", "services", i, "port"), str(err), err.hint))
    return problems


def _type_hint(kind: ServiceKind) -> str:
    if kind is ServiceKind.HEADLESS:
        return "a headless Service has `clusterIP: None`"
    return f"{kind.value} needs a Service of type {' or '.join(sorted(_SERVES[kind]))}"


def notices(experiment: Experiment) -> list[str]:
    """What the experiment's manifests use that the embedded cluster does not model (not errors: say them)."""
    if experiment.target.existing:
        return [f"the target is what already runs in namespace {experiment.target.namespace}: run it with "
                "--backend kube (chaoskit reads those objects and never changes them); checked at run time, before "
                "anything changes: " + "; ".join(checked_at_run_time(experiment))]
    inventory, _ = _read_inventory(experiment)
    found = [f"load.services left out: loads {service.describe()}" for service in discovered(experiment)]
    for template in inventory.templates:
        names = [str(c.get("name")) for c in _maps(template.spec.get("containers"))]
        if len(names) > 1:
            found.append(
                f"{template.kind} {template.name}: its pods have {len(names)} containers ({', '.join(names)}). On "
                "the embedded cluster (--backend local) each container gets the pod IP but they do not share a "
                "network namespace: one that reaches another on localhost/127.0.0.1 fails there (use $POD_IP, or "
                "--backend kube). Volumes they share (emptyDir) work.")
    return found


def _matches(selector: Mapping[str, str], labels: Mapping[str, Any]) -> bool:
    return selector_matches(selector, labels)


def _labels(labels: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "no labels"
