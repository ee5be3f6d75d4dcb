"""Loopback address plan of one local cluster: node IPs, Service VIPs and never-reused pod IPs.

Inside 127.X.0.0/16: nodes are 127.X.255.N, Service VIPs 127.X.254.N, load-balancer ingress addresses 127.X.253.N,
pods 127.X.0.1 upwards (skipping .0 and .255).
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import socket
import tempfile
from pathlib import Path

from chaoskit.cluster.protocol import ClusterError

PRIVILEGED_PORT_OFFSET = 10000
"""Ports below 1024 need root; the local cluster serves port P < 1024 at P + 10000 (documented mapping)."""


def local_port(port: int) -> int:
    """The loopback port that stands in for a Kubernetes port."""
    return port + PRIVILEGED_PORT_OFFSET if port < 1024 else port


class SubnetLease:
    """A 127.X.0.0/16 range held by one local cluster for its lifetime: an exclusive lock on
    ``<runtime dir>/chaoskit-subnets/X.lock`` (released by ``release`` or when the process dies), so two
    clusters started at the same moment, even with the same seed, never pick the same range."""

    def __init__(self, octet: int, fd: int) -> None:
        self.octet = octet
        self._fd: int | None = fd

    @classmethod
    def take(cls, octet: int) -> SubnetLease | None:
        """The lease of ``octet``, or None when another cluster holds it or its node address is bound."""
        directory = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / "chaoskit-subnets"
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / f"{octet}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if _range_in_use(octet) or not _can_bind(f"127.{octet}.255.1", 30080):  # used outside chaoskit's locks
            os.close(fd)
            return None
        return cls(octet, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def lease_subnet(rng: random.Random, wanted: int | None = None) -> SubnetLease:
    """The ``wanted`` range, or the first free one in ``rng``'s order (a seed replays the same choice when
    that range is free)."""
    if wanted is not None:
        lease = SubnetLease.take(wanted)
        if lease is None:
            raise ClusterError(f"127.{wanted}.0.0/16 is in use by another local cluster",
                               hint="leave LocalClusterConfig.subnet unset to get a free range")
        return lease
    for _ in range(64):
        lease = SubnetLease.take(rng.randint(100, 239))
        if lease is not None:
            return lease
    raise ClusterError("no free 127.X.0.0/16 range for a local cluster", hint="stop other local clusters")


def _range_in_use(octet: int, table: Path = Path("/proc/net/tcp")) -> bool:
    """Whether any TCP socket of this network namespace has a local address in 127.``octet``.0.0/16 (a cluster
    that holds no lock, e.g. from an older chaoskit). Without /proc (not Linux): False, the bind probe decides."""
    try:
        lines = table.read_text(encoding="ascii").splitlines()[1:]
    except OSError:
        return False
    wanted = f"{octet:02X}7F"  # /proc shows the IPv4 address as little-endian hex: 127.X.a.b -> bbaaXX7F
    return any(line.split()[1].split(":")[0].endswith(wanted) for line in lines if len(line.split()) > 1)


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
        self._next_lb = 1

    def node_ip(self, index: int) -> str:
        return f"127.{self.subnet}.255.{index + 1}"

    def next_vip(self) -> str:
        if self._next_vip > 254:
            raise ClusterError("out of Service addresses (254 per local cluster)")
        vip = f"127.{self.subnet}.254.{self._next_vip}"
        self._next_vip += 1
        return vip

    def next_load_balancer_ip(self) -> str:
        """A LoadBalancer Service's ingress address (what a cloud controller would write in its status)."""
        if self._next_lb > 254:
            raise ClusterError("out of load-balancer addresses (254 per local cluster)")
        ip = f"127.{self.subnet}.253.{self._next_lb}"
        self._next_lb += 1
        return ip

    def next_pod_ip(self) -> str:
        while True:
            n = self._next_pod
            self._next_pod += 1
            third, fourth = divmod(n, 256)
            if third >= 253:
                raise ClusterError("out of pod addresses (64k per local cluster)")
            if 0 < fourth < 255:
                return f"127.{self.subnet}.{third}.{fourth}"
