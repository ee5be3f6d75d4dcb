"""How a client reaches a Service on a real cluster (pure selection from API objects) and where ClusterIP
load should run from (``load.from: auto`` probes a TCP connect to the ClusterIP).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping, Sequence

from chaoskit.cluster.kube.translate import Obj, node_address, ready_endpoints
from chaoskit.cluster.protocol import ClusterError, NotFoundError, ServiceAddress, ServiceKind
from chaoskit.serviceports import PortChoiceError, PortRef, choose_port
from chaoskit.vocab import LoadOrigin


def service_port(service: Obj, *, name: PortRef | None = None) -> Obj:
    """The port ``name`` names (a name or a number), else the one named ``http``, else the first."""
    try:
        return dict(choose_port(service, name, discovering=False))
    except PortChoiceError as exc:
        raise NotFoundError(str(exc), hint=exc.hint) from None


def cluster_ip_address(service: Obj, *, port: PortRef | None = None) -> ServiceAddress:
    ip = service.get("spec", {}).get("clusterIP")
    if not ip or ip == "None":
        raise ClusterError(f"service {service.get('metadata', {}).get('name')} is headless",
                           hint="ask for Headless addresses (ready pod IPs) instead")
    return ServiceAddress(ServiceKind.CLUSTER_IP, str(ip), int(service_port(service, name=port)["port"]))


def node_port_addresses(service: Obj, nodes: Sequence[Obj], *, types: Sequence[str],
                        node_addresses: Mapping[str, str], node_ports: Mapping[int, int],
                        port: PortRef | None = None) -> list[ServiceAddress]:
    """One address per node: its override host or preferred address, and the nodePort (or its mapping)."""
    node_port = service_port(service, name=port).get("nodePort")
    if not node_port:
        raise ClusterError(f"service {service.get('metadata', {}).get('name')} has no nodePort",
                           hint="use a Service of type NodePort (or LoadBalancer)")
    out = []
    local = (service.get("spec") or {}).get("externalTrafficPolicy") == "Local"
    for node in sorted(nodes, key=lambda n: str(n.get("metadata", {}).get("name"))):
        name = str(node.get("metadata", {}).get("name", ""))
        override = node_addresses.get(name)
        host = node_address(node, types=types, override=override)
        if not host:
            continue
        port = node_ports.get(int(node_port), int(node_port)) if override else int(node_port)
        out.append(ServiceAddress(ServiceKind.NODE_PORT, host, port, node=name, traffic_local=local))
    if not out:
        raise ClusterError("no node has a usable address for NodePort",
                           hint="set node address overrides (kind/minikube port mappings)")
    return out


def headless_addresses(service: Obj, slices: Sequence[Obj], *, port: PortRef | None = None) -> list[ServiceAddress]:
    """Ready pod IPs with the target port, as a headless Service's DNS would return them. The EndpointSlice
    controller resolves a named targetPort per pod (pods that lack the name get a slice of their own or
    none), so each slice's port of the chosen name is the number for its endpoints."""
    wanted = service_port(service, name=port).get("name") or ""
    out: dict[str, ServiceAddress] = {}
    for sl in slices:
        ports = [p for p in sl.get("ports") or [] if (p.get("name") or "") == wanted]
        if not ports:
            continue
        for ip, ep in ready_endpoints(sl).items():
            out[ip] = ServiceAddress(ServiceKind.HEADLESS, ip, int(ports[0]["port"]),
                                     node=ep.node or None)
    return [out[ip] for ip in sorted(out)]


def load_balancer_addresses(service: Obj, *, port: PortRef | None = None) -> list[ServiceAddress]:
    number = int(service_port(service, name=port)["port"])
    ingress = service.get("status", {}).get("loadBalancer", {}).get("ingress") or []
    hosts = [str(i.get("ip") or i.get("hostname")) for i in ingress if i.get("ip") or i.get("hostname")]
    if not hosts:
        raise ClusterError(f"service {service.get('metadata', {}).get('name')} has no "
                           "load-balancer ingress yet", hint="is a load-balancer controller installed?")
    return [ServiceAddress(ServiceKind.LOAD_BALANCER, h, number) for h in hosts]


def tcp_reachable(host: str, port: int, *, timeout_s: float) -> bool:
    """Whether a TCP connect to host:port succeeds within ``timeout_s``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def choose_load_origin(load_from: LoadOrigin, cluster_ip: ServiceAddress, *, probe_timeout_s: float,
                       attempts: int = 4) -> LoadOrigin:
    """``auto``: run ClusterIP load from this process when the ClusterIP answers here, else in-cluster.
    Probed a few times: right after the Service is created kube-proxy may not have programmed it yet."""
    if load_from != LoadOrigin.AUTO:
        return load_from
    for _ in range(attempts):
        start = time.monotonic()
        if tcp_reachable(cluster_ip.host, cluster_ip.port, timeout_s=probe_timeout_s):
            return LoadOrigin.LOCAL
        time.sleep(max(0.0, probe_timeout_s - (time.monotonic() - start)))
    return LoadOrigin.IN_CLUSTER
