"""Address selection for ClusterIP / NodePort / Headless / LoadBalancer on recorded API objects, and the
``load.from: auto`` probe against a real listening and a real closed loopback socket."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cluster.kube.addresses import (
    choose_load_origin,
    cluster_ip_address,
    headless_addresses,
    load_balancer_addresses,
    node_port_addresses,
)
from chaoskit.cluster.protocol import ClusterError, ServiceAddress, ServiceKind

RECORDED = Path(__file__).parents[1] / "kube" / "recorded"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return data


SVC, NODES, SLICES = load("services.json"), load("nodes.json"), load("endpointslices.json")


@pytest.mark.unit
def test_cluster_ip_uses_the_http_port() -> None:
    addr = cluster_ip_address(SVC["clusterip"])
    assert (addr.kind, addr.host, addr.port) == (ServiceKind.CLUSTER_IP, "10.96.0.10", 80)
    with pytest.raises(ClusterError, match="headless"):
        cluster_ip_address(SVC["headless"])


@pytest.mark.unit
def test_node_port_prefers_internal_ip_then_external() -> None:
    nodes = [NODES["ready"], NODES["gke"]]
    addrs = node_port_addresses(SVC["nodeport"], nodes, types=("InternalIP", "ExternalIP"),
                                node_addresses={}, node_ports={})
    assert [(a.node, a.host, a.port) for a in addrs] == [
        ("gke-a", "10.128.0.5", 30080), ("tb-node", "10.88.0.1", 30080)]
    ext = node_port_addresses(SVC["nodeport"], [NODES["gke"]], types=("ExternalIP", "InternalIP"),
                              node_addresses={}, node_ports={})
    assert ext[0].host == "34.1.2.3"


@pytest.mark.unit
def test_node_port_override_for_kind_port_mapping() -> None:
    addrs = node_port_addresses(SVC["nodeport"], [NODES["kind_worker"]], types=("InternalIP",),
                                node_addresses={"kind-worker": "127.0.0.1"}, node_ports={30080: 8080})
    assert addrs == [ServiceAddress(ServiceKind.NODE_PORT, "127.0.0.1", 8080, node="kind-worker")]


@pytest.mark.unit
def test_node_port_needs_a_node_port() -> None:
    with pytest.raises(ClusterError, match="no nodePort"):
        node_port_addresses(SVC["clusterip"], [NODES["ready"]], types=("InternalIP",),
                            node_addresses={}, node_ports={})


@pytest.mark.unit
def test_headless_lists_ready_pod_ips_once() -> None:
    slices = [SLICES["one_terminating"], SLICES["other_slice"]]
    addrs = headless_addresses(SVC["headless"], slices)
    assert [(a.host, a.port) for a in addrs] == [("10.88.0.13", 80), ("10.88.0.14", 80), ("10.88.0.15", 80)]
    assert all(a.kind is ServiceKind.HEADLESS and a.node == "tb-node" for a in addrs)


@pytest.mark.unit
def test_load_balancer_ingress() -> None:
    addrs = load_balancer_addresses(SVC["loadbalancer"])
    assert [(a.host, a.port) for a in addrs] == [("203.0.113.7", 8080), ("lb.example.com", 8080)]
    with pytest.raises(ClusterError, match="no load-balancer ingress"):
        load_balancer_addresses(SVC["nodeport"])


@pytest.mark.local
def test_load_origin_auto_probes_a_real_socket() -> None:
    with socket.socket() as listener:
        listener.bind(("127.63.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        open_addr = ServiceAddress(ServiceKind.CLUSTER_IP, "127.63.0.1", port)
        assert choose_load_origin("auto", open_addr, probe_timeout_s=1.0) == "local"
    # The listener is closed: the same address now refuses, on every attempt.
    assert choose_load_origin("auto", open_addr, probe_timeout_s=0.1) == "in-cluster"
    assert choose_load_origin("in-cluster", open_addr, probe_timeout_s=1.0) == "in-cluster"


def test_load_origin_auto_retries_until_the_service_is_programmed() -> None:
    """A new ClusterIP answers only after kube-proxy's next sync: a later attempt must still find it."""
    with socket.socket() as probe:
        probe.bind(("127.63.0.2", 0))
        port = probe.getsockname()[1]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def listen_later() -> None:
        time.sleep(0.25)
        listener.bind(("127.63.0.2", port))
        listener.listen()

    late = threading.Thread(target=listen_later)
    late.start()
    try:
        addr = ServiceAddress(ServiceKind.CLUSTER_IP, "127.63.0.2", port)
        assert choose_load_origin("auto", addr, probe_timeout_s=0.2, attempts=5) == "local"
    finally:
        late.join()
        listener.close()
