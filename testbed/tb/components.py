"""The component list the supervisor runs: command line, readiness check and hooks, in start order."""

from __future__ import annotations

import sys
from typing import Any

from . import config
from .config import Node, Paths

BLACKHOLE_PROXY = "http://127.0.0.1:9"


def _etcd(p: Paths) -> dict[str, Any]:
    client = f"http://127.0.0.1:{config.ETCD_CLIENT_PORT}"
    peer = f"http://127.0.0.1:{config.ETCD_PEER_PORT}"
    return {
        "name": "etcd",
        "argv": [p.exe("etcd"), "--name=testbed", f"--data-dir={p.state / 'etcd'}",
                 f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
                 f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                 f"--initial-cluster=testbed={peer}",
                 # Throwaway data: skipping fsync keeps the shared disk quiet.
                 "--unsafe-no-fsync=true", "--log-level=warn"],
        "ready": {"kind": "http", "url": f"{client}/health"},
    }


def _apiserver(p: Paths) -> dict[str, Any]:
    pki = p.pki
    return {
        "name": "kube-apiserver",
        "argv": [
            p.exe("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{config.ETCD_CLIENT_PORT}",
            "--bind-address=127.0.0.1", f"--secure-port={config.API_PORT}",
            # A loopback advertise address is rejected for the `kubernetes` Endpoints; use the node IP.
            f"--advertise-address={config.NODE_IP}",
            f"--service-cluster-ip-range={config.SERVICE_CIDR}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP",
            # Kubelet serving certificates are signed by our CA for each node's name and IP.
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true", f"--cert-dir={p.state / 'apiserver'}", "--v=1",
        ],
        "ready": {"kind": "https", "url": f"https://127.0.0.1:{config.API_PORT}/readyz",
                  "ca": str(pki / "ca.crt"), "cert": str(pki / "admin.crt"), "key": str(pki / "admin.key")},
        "timeout_s": 180.0,
        # Its graceful shutdown waits out open watches (~20 s); the data is thrown away anyway.
        "stop_grace_s": 3.0,
    }


def in_node(p: Paths, node: Node) -> list[str]:
    """Command prefix running a program inside the node's network and mount namespaces (none for node 1).

    `nsenter` execs the program in place, so the recorded PID and command line are the program's own.
    """
    if not node.netns:
        return []
    return ["nsenter", f"--net=/run/netns/{node.netns}", f"--mount={p.mount_ns(node)}", "--"]


def _containerd(p: Paths, node: Node, images: list[str]) -> dict[str, Any]:
    ctr = ["ctr", "--address", str(p.sock(node)), "--namespace", "k8s.io"]
    return {
        "name": f"containerd{node.suffix}",
        "argv": [*in_node(p, node), "containerd", "--config",
                 str(p.node_dir(node) / "containerd" / "config.toml")],
        # Nothing may be pulled: every registry request goes to a closed loopback port and fails at
        # once (an image missing locally shows as ErrImagePull, with no traffic leaving the machine).
        "env": {"HTTP_PROXY": BLACKHOLE_PROXY, "HTTPS_PROXY": BLACKHOLE_PROXY, "NO_PROXY": "",
                "http_proxy": BLACKHOLE_PROXY, "https_proxy": BLACKHOLE_PROXY, "no_proxy": ""},
        "ready": {"kind": "unix", "path": str(p.sock(node))},
        # Images come only from local OCI tarballs; nothing is ever pulled. The imports run in the
        # background (all nodes' at once); the first kubelet waits for them.
        "after_ready": [[*ctr, "images", "import", "--all-platforms", tar] for tar in images],
        "after_ready_async": True,
    }


def _controller_manager(p: Paths, files: dict[str, str]) -> dict[str, Any]:
    kc = files["controller-manager"]
    return {
        "name": "kube-controller-manager",
        "argv": [
            p.exe("kube-controller-manager"), f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1", "--leader-elect=false",
            f"--service-account-private-key-file={p.pki / 'sa.key'}",
            f"--root-ca-file={p.pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={p.pki / 'ca.crt'}",
            f"--cluster-signing-key-file={p.pki / 'ca.key'}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={config.SERVICE_CIDR}",
            f"--cert-dir={p.state / 'controller-manager'}",
            f"--flex-volume-plugin-dir={p.state / 'flexvolume'}",
            # The StorageClass `standard` (tb/cloud.py): volumes under /tmp/hostpath_pv, a directory both nodes
            # see, so its data follows a pod to the other node (network storage).
            "--enable-hostpath-provisioner",
            # Node failure tests in about a minute: NotReady 20 s after the kubelet's last lease renewal (the
            # default is 50 s); the kubelets renew every 5 s (nodeLeaseDurationSeconds 20), so a loaded machine
            # still has four renewals of slack.
            f"--node-monitor-grace-period={config.NODE_MONITOR_GRACE_S}s", "--v=1",
        ],
        "ready": {"kind": "https", "url": "https://127.0.0.1:10257/healthz"},
    }


def _scheduler(p: Paths, files: dict[str, str]) -> dict[str, Any]:
    kc = files["scheduler"]
    return {
        "name": "kube-scheduler",
        "argv": [p.exe("kube-scheduler"), f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}",
                 f"--authorization-kubeconfig={kc}", "--bind-address=127.0.0.1",
                 "--leader-elect=false", f"--cert-dir={p.state / 'scheduler'}", "--v=1"],
        "ready": {"kind": "https", "url": "https://127.0.0.1:10259/healthz"},
    }


def _cloud(p: Paths) -> dict[str, Any]:
    # Load-balancer addresses and node-local volumes, as a cloud would provide them (tb/cloud.py).
    return {
        "name": "cloud-controller",
        "argv": [sys.executable, "-m", "tb.cloud", str(p.state)],
        "ready": {"kind": "file", "path": str(p.state / "cloud.ready")},
        "timeout_s": 60.0,
        "stop_grace_s": 2.0,
    }


def _kubelet(p: Paths, node: Node, files: dict[str, str]) -> dict[str, Any]:
    sfx = node.suffix
    health = node.ip if node.isolated else "127.0.0.1"
    root = p.node_dir(node) / "kubelet"
    return {
        "name": f"kubelet{sfx}",
        "argv": [*in_node(p, node), p.exe("kubelet"), f"--config={files[f'kubelet-config{sfx}']}",
                 f"--kubeconfig={files[f'kubelet{sfx}']}", f"--root-dir={root}", f"--cert-dir={root / 'pki'}",
                 f"--hostname-override={node.name}", f"--node-ip={node.ip}", "--v=1"],
        "ready": {"kind": "http", "url": f"http://{health}:10248/healthz"},
        "await_hooks": True,
    }


def _api_relay(p: Paths) -> dict[str, Any]:
    # The API server listens on loopback only, but pods reach it as `kubernetes.default` =
    # 10.96.0.1:443 -> its advertised endpoint 10.88.0.1:6443; relay that address (bridge-only,
    # covered by the egress guard) to loopback so in-cluster clients work as on any cluster. Node 2's
    # kubelet and kube-proxy (own netns, own loopback) use this address too, routed through the host.
    return {
        "name": "api-relay",
        "argv": ["socat", f"TCP-LISTEN:{config.API_PORT},bind={config.NODE_IP},reuseaddr,fork",
                 f"TCP:127.0.0.1:{config.API_PORT}"],
        "ready": {"kind": "tcp", "host": config.NODE_IP, "port": config.API_PORT},
    }


def _kube_proxy(p: Paths, node: Node, files: dict[str, str]) -> dict[str, Any]:
    health = node.ip if node.isolated else "127.0.0.1"
    return {
        "name": f"kube-proxy{node.suffix}",
        "argv": [*in_node(p, node), p.exe("kube-proxy"), f"--config={files[f'kube-proxy-config{node.suffix}']}",
                 "--v=1"],
        "ready": {"kind": "http", "url": f"http://{health}:10256/healthz"},
    }


def spec(p: Paths, files: dict[str, str], images: list[str], nodes: tuple[Node, ...]) -> dict[str, Any]:
    """Start order: storage, API, runtimes (+ background image import), controllers, node agents."""
    return {
        "env": {"PATH": f"{p.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        "components": [
            _etcd(p), _apiserver(p), _api_relay(p), *(_containerd(p, n, images) for n in nodes),
            _controller_manager(p, files), _scheduler(p, files), _cloud(p),
            *(_kubelet(p, n, files) for n in nodes), *(_kube_proxy(p, n, files) for n in nodes),
        ],
    }
