"""Synthetic runs for the findings rules: a few pods, a fault, what the data path did, and requests every 10 ms
that fail where the test says (all built from ClusterEvents and records.py columns, nothing measured)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from chaoskit.analysis.evidence import AddressFacts, RunFacts
from chaoskit.analysis.findings import Finding, FindingRegistry
from chaoskit.analysis.summary import RunSummary, summarize
from chaoskit.analysis.synthetic import T0_NS, events_frame, phase_events, requests_from
from chaoskit.analysis.templates import manifest_facts
from chaoskit.analysis.verdict import SloTargets
from chaoskit.checks.results import DataCheckResult
from chaoskit.vocab import ClusterEvent, EventKind

S = 1_000_000_000
MS = 1_000_000
SERVICE = "chaoskit-target"
"""The Service synthetic ClusterIP requests name (synthetic.SERVICES)."""
PHASES = (("baseline", 2.0), ("chaos", 8.0), ("recovery", 4.0))
END_S = sum(length for _, length in PHASES)


def at(seconds: float) -> int:
    return T0_NS + int(seconds * S)


def deployment(name: str = "web", *, replicas: int = 3, pre_stop_s: float | None = None, grace: int | None = None,
               probe: dict[str, Any] | None = None, spread: bool = False, image: str = "httpd:2.4",
               volumes: Sequence[dict[str, Any]] = (), kind: str = "Deployment") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "httpd", "image": image, "ports": [{"containerPort": 80}]}
    if pre_stop_s is not None:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": pre_stop_s}}}
    if probe is not None:
        container["readinessProbe"] = {"httpGet": {"path": "/", "port": 80}, **probe}
    pod: dict[str, Any] = {"containers": [container], "volumes": list(volumes)}
    if grace is not None:
        pod["terminationGracePeriodSeconds"] = grace
    if spread:
        pod["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                             "whenUnsatisfiable": "DoNotSchedule",
                                             "labelSelector": {"matchLabels": {"app": name}}}]
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "demo"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod}}}


def budget(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": "demo"},
            "spec": {**spec, "selector": {"matchLabels": {"app": name}}}}


def facts(*manifests: dict[str, Any], addresses: Iterable[AddressFacts] = ()) -> RunFacts:
    return RunFacts(manifests=manifest_facts(manifests, {"app": "web"}), addresses=tuple(addresses))


class Cluster:
    """Events of a small cluster, written as a script: pods, faults, what the data path forwards to."""

    def __init__(self, nodes: Sequence[str] = ("n1", "n2", "n3")) -> None:
        self.events: list[ClusterEvent] = phase_events(PHASES)
        self.ips: dict[str, str] = {}
        self.nodes: dict[str, str] = {}
        for node in nodes:
            self.events.append(ClusterEvent(at(-5), EventKind.NODE_READY, name=node, node=node))

    def pod(self, name: str, ip: str, node: str, *, ready_s: float = -3.0, running_s: float | None = None,
            scheduled_s: float | None = None) -> None:
        self.ips[name], self.nodes[name] = ip, node
        first = min(ready_s, running_s if running_s is not None else ready_s, scheduled_s or ready_s)
        self.add(first - 0.001, EventKind.POD_ADDED, name)
        self.add(scheduled_s if scheduled_s is not None else first, EventKind.POD_SCHEDULED, name)
        self.add(running_s if running_s is not None else ready_s, EventKind.POD_RUNNING, name)
        self.add(ready_s, EventKind.POD_READY, name)

    def add(self, seconds: float, kind: EventKind, name: str = "", **fields: Any) -> None:
        defaults = {"ip": self.ips.get(name, ""), "node": self.nodes.get(name, "")} if name in self.ips else {}
        self.events.append(ClusterEvent(at(seconds), kind, name=name, **{**defaults, **fields}))

    def fault(self, seconds: float, name: str, kind: str, victims: Sequence[str]) -> None:
        for pod in victims:
            self.add(seconds, EventKind.FAULT_BEGIN, name, ip=self.ips[pod], node=self.nodes[pod],
                     detail=f"{kind}|{pod}")
        self.add(seconds + 0.01, EventKind.FAULT_END, name, detail=kind)

    def terminate(self, seconds: float, pod: str, *, grace: float = 30, deleted_s: float | None = None) -> None:
        self.add(seconds, EventKind.POD_TERMINATING, pod, detail=f"grace={grace:g}s")
        self.add(deleted_s if deleted_s is not None else seconds + 0.1, EventKind.POD_DELETED, pod)

    def synced(self, seconds: float, *pods: str, service: str = SERVICE) -> None:
        """The data path now forwards ``service`` to exactly these pods."""
        detail = ",".join(sorted(self.ips[p] for p in pods))
        self.events.append(ClusterEvent(at(seconds), EventKind.PROXY_SYNCED, name=service, service=service,
                                        detail=detail))

    def endpoint(self, seconds: float, pod: str, *, added: bool, service: str = SERVICE) -> None:
        kind = EventKind.ENDPOINT_ADDED if added else EventKind.ENDPOINT_REMOVED
        self.add(seconds, kind, pod, service=service, node="")

    def frame(self) -> Any:
        return events_frame(sorted(self.events, key=lambda e: e.ts_ns))


def requests(fails: Callable[[float], bool], *, outcome: str = "reset", every_ms: int = 10,
             latency_ms: float = 1.0, target: str | None = None, service_type: str = "ClusterIP",
             lag_ms: float = 0.0) -> Any:
    """One request every ``every_ms`` over the whole run; those ``fails(t)`` (seconds) accepts fail; each
    started ``lag_ms`` after it was scheduled."""
    starts = [i * every_ms / 1000 for i in range(int(END_S * 1000 / every_ms))]
    return requests_from([at(t) for t in starts], [not fails(t) for t in starts], outcome=outcome,
                         latency_ns=int(latency_ms * MS), target=target, service_type=service_type,
                         scheduled_ns=[at(t) - int(lag_ms * MS) for t in starts])


def analyse(requests_table: Any, cluster: Cluster, run_facts: RunFacts | None = None, *,
            slo: SloTargets | None = None, data: Sequence[DataCheckResult] = (),
            registry: FindingRegistry | None = None) -> RunSummary:
    return summarize(requests_table, cluster.frame(), list(data), slo or SloTargets(), experiment="synthetic",
                     backend="local", run_id="r", aborted=False, agent=None, facts=run_facts, rules=registry)


def only(summary: RunSummary, rule: str) -> Finding:
    found = [f for f in summary.findings if f.rule == rule]
    assert len(found) == 1, [(f.rule, f.headline) for f in summary.findings]
    return found[0]


def rules(summary: RunSummary) -> set[str]:
    return {f.rule for f in summary.findings}
