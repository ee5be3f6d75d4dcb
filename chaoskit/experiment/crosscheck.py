"""Check a valid experiment against its manifests: selector, volumes, containers and Services must exist.

Runs before anything touches a cluster, so a typo in a volume name fails at `chaoskit validate`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from yaml import YAMLError

from chaoskit.experiment.diagnostics import Loc
from chaoskit.experiment.model import Experiment
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


@dataclass(slots=True)
class _Inventory:
    templates: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    """(workload name, pod labels, pod spec) of every pod template in the target namespace."""
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Service name -> spec."""


def cross_check(experiment: Experiment) -> list[Problem]:
    """Every mismatch between the experiment and the objects its manifests define."""
    inventory, problems = _read_inventory(experiment)
    if problems:
        return problems
    selector = experiment.target.selector
    pods = [(n, spec) for n, labels, spec in inventory.templates if _matches(selector, labels)]
    if not pods:
        found = ", ".join(f"{n} ({_labels(lbl)})" for n, lbl, _ in inventory.templates) or "none"
        return [
            Problem(
                ("target", "selector"),
                f"no pod template in the manifests has labels {_labels(selector)}",
                f"pod templates found: {found}",
            )
        ]
    problems += _check_data(experiment, pods)
    problems += _check_services(experiment, inventory.services)
    return problems


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
        inventory.templates.append((name, labels, spec))
    elif kind in WORKLOAD_KINDS:
        template = _map(spec.get("template"))
        labels = _map(_map(template.get("metadata")).get("labels"))
        inventory.templates.append((name, labels, _map(template.get("spec"))))


def _map(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


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


def _check_data(experiment: Experiment, pods: list[tuple[str, dict[str, Any]]]) -> list[Problem]:
    volumes = sorted(set().union(*(_names(spec.get("volumes")) for _, spec in pods)))
    containers = sorted(set().union(*(_names(spec.get("containers")) for _, spec in pods)))
    problems = []
    for i, check in enumerate(experiment.data):
        if check.volume not in volumes:
            problems.append(
                Problem(
                    ("data", i, "volume"),
                    f"volume '{check.volume}' is not in the target's pod template",
                    f"volumes there: {', '.join(volumes) or 'none'}",
                )
            )
        if check.container is not None and check.container not in containers:
            problems.append(_no_container(("data", i, "container"), check.container, containers))
    for i, fault in enumerate(experiment.faults):
        for field_name, container in fault.container_refs().items():
            if container not in containers:
                problems.append(_no_container(("faults", i, fault.kind, field_name), container, containers))
    return problems


def _no_container(loc: Loc, name: str, containers: list[str]) -> Problem:
    return Problem(
        loc,
        f"container '{name}' is not in the target's pod template",
        f"containers there: {', '.join(containers) or 'none'}",
    )


def _check_services(experiment: Experiment, services: dict[str, dict[str, Any]]) -> list[Problem]:
    problems = []
    for i, loaded in enumerate(experiment.load.services):
        spec = services.get(loaded.name)
        if spec is None:
            problems.append(
                Problem(
                    ("load", "services", i, "name"),
                    f"Service '{loaded.name}' is not defined in the manifests",
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
    return problems


def _type_hint(kind: ServiceKind) -> str:
    if kind is ServiceKind.HEADLESS:
        return "a headless Service has `clusterIP: None`"
    return f"{kind.value} needs a Service of type {' or '.join(sorted(_SERVES[kind]))}"


def _matches(selector: Mapping[str, str], labels: Mapping[str, Any]) -> bool:
    return selector_matches(selector, labels)


def _labels(labels: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "no labels"
