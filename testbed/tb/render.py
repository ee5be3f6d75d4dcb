"""Config files and command lines for every component, rendered into the state directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import config
from .config import Node, Paths

SERVER = f"https://127.0.0.1:{config.API_PORT}"
"""Host processes reach the API server on loopback."""
SERVER_FROM_NETNS = f"https://{config.NODE_IP}:{config.API_PORT}"
"""Node 2 (own netns, own loopback) reaches it through the API relay on node 1's IP, routed by the host."""


def kubeconfig(p: Paths, user: str, *, server: str = SERVER, name: str | None = None) -> str:
    """A kubeconfig for one client identity (its cert/key pair in pki/), written next to the others."""
    context = config.CONTEXT
    text = json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": server, "certificate-authority": str(p.pki / "ca.crt")}}],
        "users": [{"name": f"{context}-{user}", "user": {
            "client-certificate": str(p.pki / f"{user}.crt"),
            "client-key": str(p.pki / f"{user}.key")}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-{user}"}}],
        "current-context": context,
    }, indent=2)
    path = p.kubeconfig if user == "admin" else p.state / f"{name or user}.kubeconfig"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def containerd_toml(p: Paths, node: Node) -> str:
    cd = p.node_dir(node) / "containerd"
    sock = p.sock(node)
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{cd}/root"
state = "{cd}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{cd}/opt"

[{cri}]
  sandbox_image = "{config.PAUSE_IMAGE}"
  # Pod network namespaces live under our state dir, so `down` can find and unmount exactly ours.
  netns_mounts_under_state_dir = true
  # Loopback of the node's own network namespace: only its kubelet proxies exec/attach/port-forward here.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # This sandbox withholds CAP_SYS_RESOURCE, so lowering oom_score_adj (kubelet asks -998 for
  # sandboxes) fails with EACCES inside runc; clamp to containerd's own value instead.
  restrict_oom_score_adj = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  # cgroups v1 without systemd: cgroupfs driver, matching the kubelet's cgroupDriver.
  SystemdCgroup = false
  # runc's container state under our state dir, not /run/containerd/runc.
  Root = "{cd}/runc"

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{p.node_dir(node)}/cni"
  max_conf_num = 1
"""


def cni_conflist(p: Paths, node: Node) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "chaoskit-testbed",
        "plugins": [{
            "type": "bridge",
            "bridge": node.bridge,
            "isGateway": True,
            # Pods answer the host through the bridge gateway; no masquerade: pods never need egress.
            "isDefaultGateway": True,
            "ipMasq": False,
            "hairpinMode": True,
            "ipam": {
                "type": "host-local",
                "dataDir": str(p.node_dir(node) / "cni-ipam"),
                "ranges": [[{"subnet": node.pod_cidr, "gateway": node.pod_gateway}]],
            },
        }],
    }


def kubelet_config(p: Paths, node: Node) -> dict[str, Any]:
    root = p.node_dir(node) / "kubelet"
    extra: dict[str, Any] = {"cgroupRoot": node.cgroup_root} if node.cgroup_root else {}
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.ip,
        "readOnlyPort": 0,
        # Node 2's loopback is its own netns': the supervisor probes it on the node IP instead.
        "healthzBindAddress": node.ip if node.isolated else "127.0.0.1",
        "healthzPort": 10248,
        # Serving certificate signed by the test bed CA for the node's name and IP (the API server checks it).
        "tlsCertFile": str(p.pki / f"kubelet{node.suffix}-serving.crt"),
        "tlsPrivateKeyFile": str(p.pki / f"kubelet{node.suffix}-serving.key"),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(p.pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        # This machine: cgroups v1 (hybrid), no systemd, swap allowed.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{p.sock(node)}",
        "podLogsDir": str(p.node_dir(node) / "pod-logs"),
        "volumePluginDir": str(root / "volume-plugins"),
        "clusterDomain": "cluster.local",
        "resolvConf": "/etc/resolv.conf",
        # Low eviction and image-GC thresholds: a shared CI disk must not evict the test pods.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "maxPods": 60,
        # Renew the node lease every 5 s (a quarter of it): the controller manager's grace period is short here.
        "nodeLeaseDurationSeconds": config.NODE_LEASE_DURATION_S,
        **extra,
    }


def kube_proxy_config(node: Node, kubeconfig_path: str) -> dict[str, Any]:
    local = node.ip if node.isolated else "127.0.0.1"
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": kubeconfig_path},
        "mode": "iptables",
        # The cluster-wide pod range, as on a real cluster: traffic from any node's pods is "local".
        "clusterCIDR": config.CLUSTER_CIDR,
        "hostnameOverride": node.name,
        "bindAddress": node.ip,
        "healthzBindAddress": f"{local}:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # NodePorts only on the node IP, never on the uplink address.
        "nodePortAddresses": [f"{node.ip}/32"],
        # Zero = leave the conntrack sysctls alone.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                      "tcpCloseWaitTimeout": "0s"},
        "iptables": {"localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "1s"},
    }


def _write_json(path: Path, data: dict[str, Any]) -> str:
    path.write_text(json.dumps(data, indent=2))
    return str(path)


def write_node_configs(p: Paths, node: Node) -> dict[str, str]:
    """containerd, CNI, kubelet and kube-proxy files of one node; keys carry the node's suffix."""
    d, sfx = p.node_dir(node), node.suffix
    for sub in ("containerd", "cni", "kubelet"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "containerd" / "config.toml").write_text(containerd_toml(p, node))
    _write_json(d / "cni" / "10-chaoskit-testbed.conflist", cni_conflist(p, node))
    server = SERVER_FROM_NETNS if node.isolated else SERVER
    files = {f"kubelet{sfx}": kubeconfig(p, f"kubelet{sfx}", server=server),
             f"kube-proxy{sfx}": kubeconfig(p, "kube-proxy", server=server, name=f"kube-proxy{sfx}")}
    files[f"kubelet-config{sfx}"] = _write_json(p.state / f"kubelet-config{sfx}.json", kubelet_config(p, node))
    files[f"kube-proxy-config{sfx}"] = _write_json(
        p.state / f"kube-proxy-config{sfx}.json", kube_proxy_config(node, files[f"kube-proxy{sfx}"]))
    return files


def write_configs(p: Paths, nodes: tuple[Node, ...]) -> dict[str, str]:
    """Write every config file; return the paths the command lines need."""
    files = {u: kubeconfig(p, u) for u in ("admin", "controller-manager", "scheduler")}
    for node in nodes:
        files |= write_node_configs(p, node)
    return files
