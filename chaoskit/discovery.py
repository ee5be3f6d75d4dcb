"""Service discovery: the Services that reach a set of pods, and the ways users take to each.

Pure: works on Service objects as manifests and the API server write them (plain mappings) and on the pods'
labels; ``chaoskit run`` (``load.services`` left out), ``--dry-run`` and ``chaoskit init`` use it.

A Service reaches the pods when its selector matches the labels of at least one of them (ExternalName Services
and Services without a selector have no pods of their own and are never found). The ways in follow its type:
ClusterIP from inside the cluster, NodePort on every node (a NodePort or LoadBalancer Service), the
load-balancer ingress once the cloud assigned one, the ready pod IPs of a headless Service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chaoskit.serviceports import PortChoiceError, PortRef, choose_port, describe_port, find_port, ports_of
from chaoskit.vocab import ServiceKind, selector_matches


@dataclass(frozen=True, slots=True)
class FoundService:
    """One Service that selects the target's pods, and how it is loaded."""

    name: str
    type: str
    """ClusterIP, NodePort, LoadBalancer or Headless (``clusterIP: None``)."""
    ports: tuple[str, ...]
    """Each port as ``name port->targetPort`` (with its nodePort)."""
    traffic_policy: str
    """``externalTrafficPolicy`` (Cluster or Local) for NodePort and LoadBalancer Services, else empty."""
    ways: tuple[ServiceKind, ...]
    """The ways it is loaded."""
    port: PortRef | None
    """The port loaded (its name, else its number)."""
    unused: str = ""
    """A way its type offers that is not loaded, and why (a LoadBalancer without an ingress yet)."""

    def describe(self) -> str:
        """``web (NodePort, ports http 80->http nodePort 30080, externalTrafficPolicy Local): loaded as ClusterIP,
        NodePort on port http``."""
        policy = f", externalTrafficPolicy {self.traffic_policy}" if self.traffic_policy else ""
        ways = ", ".join(w.value for w in self.ways)
        port = f" on port {self.port}" if self.port is not None else ""
        unused = f"; {self.unused}" if self.unused else ""
        return f"{self.name} ({self.type}, ports {', '.join(self.ports)}{policy}): loaded as {ways}{port}{unused}"


class DiscoveryError(ValueError):
    """Discovery cannot decide (no Service reaches the pods, or a Service's port is ambiguous); ``hint`` says
    what to write in the experiment instead."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def selecting(services: Iterable[Mapping[str, Any]],
              pod_labels: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The Services whose selector matches at least one of the pods (by their labels), sorted by name."""
    labels = list(pod_labels)
    found = []
    for service in services:
        spec = _map(service.get("spec"))
        selector = {str(k): str(v) for k, v in _map(spec.get("selector")).items()}
        if spec.get("type") == "ExternalName" or not selector:
            continue
        if any(selector_matches(selector, pod) for pod in labels):
            found.append(service)
    return sorted(found, key=lambda s: str(_map(s.get("metadata")).get("name", "")))


def discover(services: Iterable[Mapping[str, Any]], pod_labels: Iterable[Mapping[str, Any]], *,
             live: bool, port: PortRef | None = None) -> list[FoundService]:
    """Every Service that reaches the pods, with the ways to load it. ``live``: objects from the API server
    (a LoadBalancer's ingress is known); else manifests (it is not yet). ``port``: the port to load in the
    Services that have it (by name or number). Raises DiscoveryError when no Service reaches the pods, or
    naming every Service whose port cannot be chosen."""
    chosen = selecting(services, pod_labels)
    if not chosen:
        raise DiscoveryError("no Service selects the target's pods: chaoskit loads a service through a Service",
                             "add a Service whose selector matches the pods, or list one in load.services")
    found, problems = [], []
    for service in chosen:
        try:
            own = port if port is not None and find_port(ports_of(service), port) is not None else None
            found.append(describe_service(service, live=live, port=own))
        except PortChoiceError as exc:
            problems.append((str(exc), exc.hint))
    if problems:
        raise DiscoveryError("; ".join(m for m, _ in problems), "; ".join(h for _, h in problems))
    return found


def describe_service(service: Mapping[str, Any], *, live: bool, port: PortRef | None = None) -> FoundService:
    """How one Service is loaded: its ways and its port (``port``, else the first HTTP-looking one)."""
    spec = _map(service.get("spec"))
    name = str(_map(service.get("metadata")).get("name", "?"))
    chosen = choose_port(service, port, discovering=True)
    ref: PortRef | None = str(chosen["name"]) if chosen.get("name") else _number(chosen.get("port"))
    headless = spec.get("clusterIP") == "None"
    svc_type = "Headless" if headless else str(spec.get("type") or "ClusterIP")
    ways, unused = _ways(svc_type, spec, _map(service.get("status")), chosen, live=live)
    policy = str(spec.get("externalTrafficPolicy") or "Cluster") if svc_type in ("NodePort", "LoadBalancer") else ""
    return FoundService(name=name, type=svc_type, ports=tuple(describe_port(p) for p in ports_of(service)),
                        traffic_policy=policy, ways=ways, port=ref,
                        unused=unused)


def _ways(svc_type: str, spec: Mapping[str, Any], status: Mapping[str, Any], port: Mapping[str, Any], *,
          live: bool) -> tuple[tuple[ServiceKind, ...], str]:
    if svc_type == "Headless":
        return (ServiceKind.HEADLESS,), ""
    ways = [ServiceKind.CLUSTER_IP]
    if svc_type == "NodePort":
        ways.append(ServiceKind.NODE_PORT)
    if svc_type != "LoadBalancer":
        return tuple(ways), ""
    if spec.get("allocateLoadBalancerNodePorts") is not False and (port.get("nodePort") or not live):
        ways.append(ServiceKind.NODE_PORT)
    ingress = _map(status.get("loadBalancer")).get("ingress")
    if ingress:
        ways.append(ServiceKind.LOAD_BALANCER)
        return tuple(ways), ""
    return tuple(ways), "its load-balancer ingress is not loaded: it has none " + ("yet" if live else
                                                                                  "until the cloud assigns one")


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
