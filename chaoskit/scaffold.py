"""`chaoskit init`'s experiment file: a ready, commented experiment for one workload, written from what was read
(a live workload, or manifests for the embedded cluster). Pure: text in, text out; the CLI reads and writes.

Every value is conservative and says why in a comment: one pod at a time, a rate the current replica count
takes easily, SLOs that a healthy rollout-safe service meets, data expectations as Kubernetes defines each
volume type. The file must pass `chaoskit validate` unchanged (the CLI checks it before writing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml
from ruamel.yaml import YAML

from chaoskit.discovery import FoundService
from chaoskit.serviceports import find_port, ports_of

RATE_PER_REPLICA: Final = 5
"""Requests/s per address for each ready replica: light for any web service, enough to see a 200 ms gap."""
MAX_RATE: Final = 50
FIRST_FAULT_S: Final = 5
FAULT_EVERY_S: Final = 15
FAULT_TIMES: Final = 2
EXPECTATIONS: Final = {
    "emptyDir": ("lost", "lost", "an emptyDir is created with its pod and deleted with it: a replacement starts "
                 "empty, on any node"),
    "hostPath": ("survives", "lost", "a hostPath directory belongs to the node: a replacement on the same node sees "
                 "it, one on another node does not"),
    "persistentVolumeClaim": ("survives", "survives", "a PersistentVolumeClaim outlives its pods: the replacement "
                              "mounts the same claim (a StatefulSet's keeps its name and claim), on any node the "
                              "volume can reach"),
}
_PLAIN: Final = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9._/-]*$")


@dataclass(frozen=True, kw_only=True)
class Subject:
    """What `chaoskit init` read, and what the experiment is made from."""

    name: str
    """The experiment's name (a DNS label; the file is ``experiments/<name>.yaml``)."""
    namespace: str
    kind: str
    """Deployment, StatefulSet, ... ; empty when the pods were named by ``selector`` only."""
    workload: str
    selector: Mapping[str, str]
    replicas: int
    pod_spec: Mapping[str, Any]
    """The pod template's ``spec`` (containers, volumes, probes)."""
    claim_templates: tuple[str, ...] = ()
    services: tuple[FoundService, ...]
    service_objects: Mapping[str, Mapping[str, Any]]
    """Service name -> the Service as read (its ports resolve the readiness probe's port)."""
    budgets: tuple[str, ...] = ()
    origin: str
    """Where it was read, for the header (``Deployment shop/checkout on context kind``)."""
    manifests: tuple[str, ...] = ()
    """Paths relative to the experiment file; empty: the target already runs (--backend kube)."""
    context: str = ""
    nodes: int = 3
    """Nodes of the cluster (NodePort addresses: one per node)."""


def experiment_name(text: str) -> str:
    """A DNS label made from a workload's name (dots become dashes, at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return name or "experiment"


def render(subject: Subject) -> str:
    """The experiment file's text."""
    lines = [*_header(subject), f"name: {subject.name}", "description: |", *_description(subject)]
    lines += _target(subject) + _load(subject) + _phases() + _faults(subject) + _data(subject) + _slo(subject)
    return "\n".join(lines) + "\n"


def pick_workload(workloads: Sequence[Mapping[str, Any]], *, kind: str | None, name: str | None,
                  selector: Mapping[str, str]) -> Mapping[str, Any]:
    """The workload ``init`` writes an experiment for: by kind and name, by pod labels, or the only one there.
    Raises ValueError saying which there are."""
    def labels(w: Mapping[str, Any]) -> Mapping[str, Any]:
        template = (w.get("spec") or {}).get("template") or {}
        return (template.get("metadata") or {}).get("labels") or {}

    named = [w for w in workloads if (kind is None or w.get("kind") == kind)
             and (name is None or (w.get("metadata") or {}).get("name") == name)
             and all(str(labels(w).get(k)) == v for k, v in selector.items())]
    if len(named) == 1:
        return named[0]
    there = ", ".join(f"{w.get('kind')} {(w.get('metadata') or {}).get('name')}" for w in workloads) or "none"
    problem = "no workload fits" if not named else f"{len(named)} workloads fit"
    raise ValueError(f"{problem}; workloads there: {there}")


def _header(s: Subject) -> list[str]:
    run = (f"chaoskit run experiments/{s.name}.yaml --backend kube" + (f" --context {s.context}" if s.context else "")
           if not s.manifests else f"chaoskit run experiments/{s.name}.yaml")
    return [f"# A resilience experiment for {s.origin}, written by `chaoskit init`.",
            f"# Check it: chaoskit validate experiments/{s.name}.yaml    (or by name: chaoskit validate {s.name})",
            f"# Run it:   {run}",
            "# Every value is a conservative start and says why; change what you know better (`chaoskit schema`)."]


def _description(s: Subject) -> list[str]:
    what = f"{s.kind} {s.workload}" if s.kind else f"the pods {_labels(s.selector)}"
    return [f"  Delete one pod of {what} at a time while its Services are under load: do users notice?",
            f"  Expected: with {s.replicas} replica(s) the others keep serving while each deleted pod is replaced; "
            "a graceful",
            "  delete takes the pod out of the endpoints first, so only connections in flight to it may fail."
            if s.replicas > 1 else
            "  delete of the only pod is an outage until its replacement is Ready (the report measures it)."]


def _target(s: Subject) -> list[str]:
    lines = ["target:", f"  namespace: {_q(s.namespace)}"]
    if s.manifests:
        lines += ["  # Applied by chaoskit on the embedded cluster (chaoskit run) and deleted at the end.",
                  "  manifests: [" + ", ".join(_q(m) for m in s.manifests) + "]",
                  f"  selector: {_flow(s.selector)}   # the pods under test ({s.replicas} wanted)"]
        return lines
    lines.append("  # What already runs: chaoskit reads it and never creates, changes or deletes it; the faults act "
                 "on its pods.")
    if s.kind:
        lines += [f"  # It wants {s.replicas} ready pod(s) now ({_labels(s.selector)}); the run expects that many "
                  "before and after.",
                  f"  workload: {{kind: {s.kind}, name: {_q(s.workload)}}}"]
    else:
        lines += [f"  selector: {_flow(s.selector)}   # {s.replicas} ready pod(s) expected, from their workloads"]
    lines += [f"  # {b}" for b in s.budgets]
    return lines


def _addresses(s: Subject) -> int:
    ways = {"ClusterIP": 1, "NodePort": s.nodes, "Headless": s.replicas, "LoadBalancer": 1}
    return sum(ways[w.value] for f in s.services for w in f.ways)


def _load(s: Subject) -> list[str]:
    rate = max(1, min(MAX_RATE, RATE_PER_REPLICA * s.replicas))
    path, why = _path(s)
    lines = ["load:",
             f"  # Requests/s per address: {RATE_PER_REPLICA} per ready replica (at most {MAX_RATE}), light for any "
             f"web service; {_addresses(s)} address(es)",
             f"  # below, so about {rate * _addresses(s)} requests/s in all. Raise it once you know what the service "
             "takes.",
             f"  rate: {rate}",
             "  connection: new-connection   # one connection per request: a kept-alive client would stick to one pod",
             "  timeout: 2s                  # a slower answer counts as an outage",
             f"  path: {_q(path)}{' ' * max(1, 23 - len(_q(path)))}# {why}",
             "  services:"]
    for found in s.services:
        policy = f", externalTrafficPolicy {found.traffic_policy}" if found.traffic_policy else ""
        lines += [f"    # {found.name}: {found.type}, ports {', '.join(found.ports)}{policy}"]
        if found.traffic_policy == "Local":
            lines.append("    # (Local: a node without a ready pod drops NodePort traffic by design; such nodes are "
                         "not loaded)")
        if found.unused:
            lines.append(f"    # ({found.unused})")
        lines += [f"    - name: {_q(found.name)}",
                  f"      types: [{', '.join(w.value for w in found.ways)}]"]
        if found.port is not None:
            lines.append(f"      port: {found.port if isinstance(found.port, int) else _q(found.port)}")
    return lines


def _path(s: Subject) -> tuple[str, str]:
    """The readiness probe's path when it probes the port the load uses (the pods answer it when Ready)."""
    probes = [(c.get("readinessProbe") or {}).get("httpGet") for c in _maps(s.pod_spec.get("containers"))]
    probe = next((p for p in probes if isinstance(p, Mapping) and p.get("path")), None)
    if probe is not None and _probes_loaded_port(s, probe.get("port")):
        return str(probe["path"]), "the readiness probe's path: the pods answer it whenever they are Ready"
    return "/", "change it if / is not a page the service serves (a 404 at the start is refused)"


def _probes_loaded_port(s: Subject, probe_port: Any) -> bool:
    containers = _maps(s.pod_spec.get("containers"))
    named = {str(p.get("name")): p.get("containerPort") for c in containers for p in _maps(c.get("ports"))}
    number = named.get(str(probe_port), probe_port)
    for found in s.services:
        service = s.service_objects.get(found.name, {})
        port = find_port(ports_of(service), found.port) if found.port is not None else None
        port = port or (ports_of(service) or [{}])[0]
        target = port.get("targetPort", port.get("port"))
        if named.get(str(target), target) == number:
            return True
    return False


def _phases() -> list[str]:
    return ["phases:",
            "  baseline: 10s   # load only: the service as it is normally, to compare with",
            "  chaos: 40s      # the faults fire in this phase",
            "  recovery: 20s   # load only: the last replacement gets Ready and the endpoints settle"]


def _faults(s: Subject) -> list[str]:
    return ["faults:",
            "  # One pod at a time, gracefully (its own grace period), as a rollout or a node drain does: "
            "the mildest pod fault.",
            f"  # Fires at {FIRST_FAULT_S}s and {FIRST_FAULT_S + FAULT_EVERY_S}s into chaos: each replacement has "
            f"{FAULT_EVERY_S}s to get Ready before the next one.",
            "  - kind: pod-delete",
            "    name: delete-one-pod",
            f"    schedule: {{at: {FIRST_FAULT_S}s, every: {FAULT_EVERY_S}s, times: {FAULT_TIMES}}}",
            "    target: {count: 1, pick: random}"]


def _data(s: Subject) -> list[str]:
    checks = []
    for volume, kind, container in _checkable_volumes(s):
        same, other, why = EXPECTATIONS[kind]
        checks += [f"  # {volume}: {kind}; {why}.",
                   f"  - volume: {_q(volume)}",
                   f"    container: {_q(container)}",
                   f"    volume_type: {kind}",
                   f"    expect: {{after_pod_replaced_same_node: {same}, after_pod_replaced_other_node: {other}}}"]
    if not checks:
        return ["# data: no emptyDir, hostPath or persistentVolumeClaim volume is mounted writable: nothing to check."]
    return ["# A hidden marker file is written into each volume before a fault (exec, /bin/sh in the container) and",
            "# looked for in the replacement; every marker is removed at the end. A container without a shell or a",
            "# read-only mount gives a row 'not checkable' (neither lost nor survived).",
            "data:", *checks]


def _checkable_volumes(s: Subject) -> list[tuple[str, str, str]]:
    """(volume, type, first container that mounts it writable) for the volume types with known expectations."""
    types = {name: "persistentVolumeClaim" for name in s.claim_templates}
    for volume in _maps(s.pod_spec.get("volumes")):
        kind = next((k for k in EXPECTATIONS if k in volume), None)
        if kind is not None and volume.get("name"):
            types[str(volume["name"])] = kind
    found = []
    for name, kind in types.items():
        container = next((str(c.get("name")) for c in _maps(s.pod_spec.get("containers"))
                          for m in _maps(c.get("volumeMounts")) if m.get("name") == name and not m.get("readOnly")),
                         None)
        if container is not None:
            found.append((name, kind, container))
    return found


def _slo(s: Subject) -> list[str]:
    if s.replicas > 1:
        availability = ["  # Each delete is graceful and the other replicas serve: only requests in flight to the "
                        "leaving pod, or",
                        "  # sent before every proxy dropped it, may fail. 99% leaves room for that, per Service type.",
                        "  availability: 99%"]
    else:
        availability = ["  # One replica: each delete is an outage until the replacement is Ready. 85% of this "
                        "70 s run allows",
                        "  # about 5 s per delete; give it two replicas or more to test availability for real.",
                        "  availability: 85%"]
    return ["slo:", *availability,
            "  # A replacement is scheduled, started and passes its readiness probe; 30 s is generous for an image "
            "the",
            "  # node already has. Every recovery clock (pod Ready, endpoints, traffic) is judged.",
            "  recovery: 30s",
            "  data: true   # the data expectations above must hold",
            "  # p99_latency: 500ms   # set it once a baseline run showed the service's normal p99"]


def _flow(mapping: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{_q(k)}: {_q(v)}" for k, v in mapping.items()) + "}"


def _labels(mapping: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in mapping.items())


def _q(text: str) -> str:
    """A YAML scalar that reads back as this exact string: plain when safe, else a JSON (double-quoted) string."""
    if _PLAIN.match(text) and _reads_back(text) and _reads_back(text, typ="rt"):
        return text
    return json.dumps(text)


def _reads_back(text: str, typ: str = "safe") -> bool:
    """Whether ``text`` unquoted is read as this string (not a number, bool or null) by ruamel (YAML 1.2, how
    chaoskit reads experiments) and by PyYAML (YAML 1.1, how most tools read them)."""
    try:
        value = YAML(typ=typ).load(text) if typ == "rt" else yaml.safe_load(text)
    except Exception:
        return False
    return isinstance(value, str) and str(value) == text


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, Sequence) and not isinstance(
        value, str) else []
