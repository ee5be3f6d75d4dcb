"""Loopback address plan of one local cluster: node IPs, Service VIPs and never-reused pod IPs.

Inside 127.X.0.0/16: nodes are 127.X.255.N, Service VIPs 127.X.254.N, pods 127.X.0.1 upwards (skipping .0 and .255).
"""

from __future__ import annotations

import errno
import random
import socket

from chaoskit.cluster.protocol import ClusterError

PRIVILEGED_PORT_OFFSET = 10000
"""Ports below 1024 need root; the local cluster serves port P < 1024 at P + 10000 (documented mapping)."""


def local_port(port: int) -> int:
    """The loopback port that stands in for a Kubernetes port."""
    return port + PRIVILEGED_PORT_OFFSET if port < 1024 else port


def pick_free_subnet(rng: random.Random) -> int:
    """A second octet whose node addresses are not bound by anyone (e.g. another local cluster)."""
    for _ in range(64):
        octet = rng.randint(100, 239)
        if _can_bind(f"127.{octet}.255.1", 30080):
            return octet
    raise ClusterError("no free 127.X.0.0/16 range for a local cluster", hint="stop other local clusters")


def _can_bind(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


class AddressPlan:
    """Allocates addresses; pod IPs are handed out once and never again in this cluster's lifetime."""

    def __init__(self, subnet: int) -> None:
        self.subnet = subnet
        self._next_pod = 1
        self._next_vip = 1

    def node_ip(self, index: int) -> str:
        return f"127.{self.subnet}.255.{index + 1}"

    def next_vip(self) -> str:
        if self._next_vip > 254:
            raise ClusterError("out of Service addresses (254 per local cluster)")
        vip = f"127.{self.subnet}.254.{self._next_vip}"
        self._next_vip += 1
        return vip

    def next_pod_ip(self) -> str:
        while True:
            n = self._next_pod
            self._next_pod += 1
            third, fourth = divmod(n, 256)
            if third >= 254:
                raise ClusterError("out of pod addresses (64k per local cluster)")
            if 0 < fourth < 255:
                return f"127.{self.subnet}.{third}.{fourth}"
