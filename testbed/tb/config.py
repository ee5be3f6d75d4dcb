"""Fixed names, addresses and paths of the test bed (one place, so `up` and `down` agree)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

K8S_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.4"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"
"""The sandbox image kubelet 1.34 pins; built locally, never pulled."""
HTTPD_IMAGE = "docker.io/library/httpd:2.4"
BUSYBOX_IMAGE = "docker.io/library/busybox:1.36.1"
"""chaoskit's node-failure agent image (chaoskit/cluster/kube/config.py) and the contract tests' sidecar."""
AGENT_IMAGE = "docker.io/locustio/locust:2.47.0"
"""chaoskit's load agent image (chaoskit/cluster/kube/config.py); a local stand-in, see agent_image.py."""

CONTEXT = "chaoskit-testbed"
NODE_NAME = "chaoskit-node"
BRIDGE = "cktb0"
POD_CIDR = "10.88.0.0/16"
NODE_IP = "10.88.0.1"
"""The bridge gateway: the node's InternalIP, NodePort address and kube-apiserver advertise address."""
CLUSTER_CIDR = "10.88.0.0/15"
"""Both nodes' pod CIDRs (10.88/16 + 10.89/16): kube-proxy's clusterCIDR, and what the guard keeps in."""
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SVC_IP = "10.96.0.1"
API_PORT = 6443
ETCD_CLIENT_PORT = 23790
ETCD_PEER_PORT = 23800
GUARD_CHAIN = "CHAOSKIT-TB-GUARD"
LB_CIDR = "10.91.0.0/24"
"""LoadBalancer ingress addresses (tb/cloud.py), routed into node 1's bridge like the service CIDR."""
NODE_MONITOR_GRACE_S = 20
"""kube-controller-manager --node-monitor-grace-period (default 50 s): a failed node is NotReady after it."""
NODE_LEASE_DURATION_S = 20
"""kubelet nodeLeaseDurationSeconds (default 40 s): the lease is renewed every quarter of it."""
SMOKE_NAMESPACE = "chaoskit-testbed-smoke"
SMOKE_NODEPORT = 30081

NODE2_NETNS = "cktb-n2"
NODE2_VETH_HOST = "cktb-n2h"
"""Host end of node 2's veth; the other end is `eth0` inside the netns."""
NODE2_LINK_CIDR = "10.90.0.0/30"
NODE2_HOST_IP = "10.90.0.1"
"""The host's address on node 2's link (node 2's default gateway)."""
NODE2_PRIVATE_DIRS = (
    # Bind-mounted in node 2's mount namespace over node-2 copies under <state>/node-2/host/, so a
    # hostPath written on one node is absent on the other (as on real machines), and the two kubelets
    # do not share the device-plugin socket dir or the container-log symlinks.
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/lib/cni",
    "/var/lib/chaoskit-demo",
    "/var/lib/chaoskit-contract",
    "/var/lib/chaoskit-local",
)

HOST_DIRS = (
    # Paths our components create outside the state dir whatever their flags say: kubelet's
    # device-plugin socket dir and legacy log symlinks, libcni's result cache, containerd 1.6's shim
    # socket dir, the default flexvolume dir, and the hostPath roots of manifests/target.yaml and the
    # contract tests (node data dies with the node; node 2's copies live under the state dir, and these
    # are also its bind-mount points). `down` removes each only if it was absent before `up`.
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/lib/cni",
    "/run/containerd",
    "/usr/libexec/kubernetes",
    "/var/lib/chaoskit-demo",
    "/var/lib/chaoskit-contract",
    # The local-path volumes (tb/cloud.py) and kube-controller-manager's host-path provisioner's directories.
    "/var/lib/chaoskit-local",
    "/tmp/hostpath_pv",
)

SYSCTLS = (
    # kubelet and kube-proxy rewrite these; `down` puts the values found before `up` back.
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.netfilter.nf_conntrack_max",
)


@dataclass(frozen=True, slots=True)
class Node:
    """One kubelet + containerd + kube-proxy; node 1 is the host itself, node 2 lives in namespaces."""

    name: str
    ip: str
    """InternalIP: kubelet serving address, NodePort address."""
    pod_cidr: str
    pod_gateway: str
    """The CNI bridge's address (pods' default gateway)."""
    bridge: str
    suffix: str
    """"" for node 1, "-2" for node 2: component names, pki leaves, state subdirectory."""
    netns: str | None = None
    cgroup_root: str | None = None
    """kubelet cgroupRoot (its `kubepods` tree goes below); None: the cgroup root `/`."""

    @property
    def isolated(self) -> bool:
        return self.netns is not None


NODE1 = Node(name=NODE_NAME, ip=NODE_IP, pod_cidr=POD_CIDR, pod_gateway=NODE_IP, bridge=BRIDGE, suffix="")
NODE2 = Node(name="chaoskit-node-2", ip="10.90.0.2", pod_cidr="10.89.0.0/16", pod_gateway="10.89.0.1",
             bridge="cktb1", suffix="-2", netns=NODE2_NETNS, cgroup_root="/cktb-n2")


def nodes() -> tuple[Node, ...]:
    """The nodes `up` starts: two by default, `TB_NODES=1` for the host node alone."""
    return (NODE1,) if os.environ.get("TB_NODES", "2").strip() == "1" else (NODE1, NODE2)


@dataclass(frozen=True, slots=True)
class Paths:
    """Where everything lives: binaries in the per-version cache, all run state under one directory."""

    state: Path
    """Everything `up` creates on disk (removed by `down`)."""
    cache: Path
    """Per-version build cache: module cache, Go build cache, binaries, images."""

    @property
    def bin(self) -> Path:
        return self.cache / "bin"

    @property
    def images(self) -> Path:
        return self.cache / "images"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def kubeconfig(self) -> Path:
        return self.state / "admin.kubeconfig"

    def node_dir(self, node: Node) -> Path:
        """Per-node run state (containerd, kubelet, CNI): the state dir itself for node 1."""
        return self.state / f"node{node.suffix}" if node.suffix else self.state

    def sock(self, node: Node) -> Path:
        return self.node_dir(node) / "containerd" / "containerd.sock"

    def mount_ns(self, node: Node) -> Path:
        """The file holding node 2's mount namespace (a bind mount of its nsfs inode)."""
        return self.node_dir(node) / "ns" / "mnt"

    @property
    def supervisor_pid(self) -> Path:
        return self.state / "supervisor.pid"

    def exe(self, name: str) -> str:
        return str(self.bin / name)


def paths() -> Paths:
    """Resolve the state and cache directories (overridable for parallel test beds in development)."""
    state = Path(os.environ.get("CHAOSKIT_TESTBED_STATE", "/tmp/chaoskit-testbed"))
    base = os.environ.get("CHAOSKIT_TESTBED_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "chaoskit-testbed"
    )
    return Paths(state=state, cache=Path(base) / K8S_VERSION)
