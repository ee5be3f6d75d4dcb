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
AGENT_IMAGE = "docker.io/locustio/locust:2.47.0"
"""chaoskit's load agent image (chaoskit/cluster/kube/config.py); a local stand-in, see agent_image.py."""

CONTEXT = "chaoskit-testbed"
NODE_NAME = "chaoskit-node"
BRIDGE = "cktb0"
POD_CIDR = "10.88.0.0/16"
NODE_IP = "10.88.0.1"
"""The bridge gateway: the node's InternalIP, NodePort address and kube-apiserver advertise address."""
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SVC_IP = "10.96.0.1"
API_PORT = 6443
ETCD_CLIENT_PORT = 23790
ETCD_PEER_PORT = 23800
GUARD_CHAIN = "CHAOSKIT-TB-GUARD"
SMOKE_NAMESPACE = "chaoskit-testbed-smoke"
SMOKE_NODEPORT = 30081

HOST_DIRS = (
    # Paths our components create outside the state dir whatever their flags say: kubelet's
    # device-plugin socket dir and legacy log symlinks, libcni's result cache, containerd 1.6's shim
    # socket dir, the default flexvolume dir, and the hostPath volume of manifests/target.yaml (node
    # data dies with the node). `down` removes each only if it was absent before `up`.
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/lib/cni",
    "/run/containerd",
    "/usr/libexec/kubernetes",
    "/var/lib/chaoskit-demo",
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

    @property
    def containerd_sock(self) -> Path:
        return self.state / "containerd" / "containerd.sock"

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
