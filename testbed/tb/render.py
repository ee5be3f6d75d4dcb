"""Config files and command lines for every component, rendered into the state directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import config
from .config import Paths

SERVER = f"https://127.0.0.1:{config.API_PORT}"


def kubeconfig(p: Paths, user: str, *, context: str = config.CONTEXT) -> str:
    """A kubeconfig for one client identity (its cert/key pair in pki/), written next to the others."""
    text = json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": SERVER, "certificate-authority": str(p.pki / "ca.crt")}}],
        "users": [{"name": f"{context}-{user}", "user": {
            "client-certificate": str(p.pki / f"{user}.crt"),
            "client-key": str(p.pki / f"{user}.key")}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-{user}"}}],
        "current-context": context,
    }, indent=2)
    path = p.kubeconfig if user == "admin" else p.state / f"{user}.kubeconfig"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def containerd_toml(p: Paths) -> str:
    cd = p.state / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{cd}/root"
state = "{cd}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{p.containerd_sock}"

[ttrpc]
  address = "{p.containerd_sock}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{cd}/opt"

[{cri}]
  sandbox_image = "{config.PAUSE_IMAGE}"
  # Pod network namespaces live under our state dir, so `down` can find and unmount exactly ours.
  netns_mounts_under_state_dir = true
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
  conf_dir = "{p.state}/cni"
  max_conf_num = 1
"""


def cni_conflist(p: Paths) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "chaoskit-testbed",
        "plugins": [{
            "type": "bridge",
            "bridge": config.BRIDGE,
            "isGateway": True,
            # Pods answer the host through the bridge gateway; no masquerade: pods never need egress.
            "isDefaultGateway": True,
            "ipMasq": False,
            "hairpinMode": True,
            "ipam": {
                "type": "host-local",
                "dataDir": str(p.state / "cni-ipam"),
                "ranges": [[{"subnet": config.POD_CIDR, "gateway": config.NODE_IP}]],
            },
        }],
    }


def kubelet_config(p: Paths) -> dict[str, Any]:
    root = p.state / "kubelet"
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": config.NODE_IP,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(p.pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        # This machine: cgroups v1 (hybrid), no systemd, swap allowed.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{p.containerd_sock}",
        "podLogsDir": str(p.state / "pod-logs"),
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
    }


def kube_proxy_config(p: Paths, kubeconfig_path: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": kubeconfig_path},
        "mode": "iptables",
        "clusterCIDR": config.POD_CIDR,
        "hostnameOverride": config.NODE_NAME,
        "bindAddress": config.NODE_IP,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # NodePorts only on the node IP (bridge gateway), never on the uplink address.
        "nodePortAddresses": [f"{config.NODE_IP}/32"],
        # Zero = leave the host's conntrack sysctls alone.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s",
                      "tcpCloseWaitTimeout": "0s"},
        "iptables": {"localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "1s"},
    }


def write_configs(p: Paths) -> dict[str, str]:
    """Write every config file; return the paths the command lines need."""
    (p.state / "containerd").mkdir(parents=True, exist_ok=True)
    (p.state / "containerd" / "config.toml").write_text(containerd_toml(p))
    (p.state / "cni").mkdir(exist_ok=True)
    (p.state / "cni" / "10-chaoskit-testbed.conflist").write_text(json.dumps(cni_conflist(p), indent=2))
    files = {u: kubeconfig(p, u) for u in
             ("admin", "controller-manager", "scheduler", "kubelet", "kube-proxy")}
    (p.state / "kubelet").mkdir(exist_ok=True)
    files["kubelet-config"] = str(p.state / "kubelet-config.json")
    Path(files["kubelet-config"]).write_text(json.dumps(kubelet_config(p), indent=2))
    files["kube-proxy-config"] = str(p.state / "kube-proxy-config.json")
    Path(files["kube-proxy-config"]).write_text(
        json.dumps(kube_proxy_config(p, files["kube-proxy"]), indent=2))
    return files
