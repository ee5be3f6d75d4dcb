"""Host network and kernel state the test bed owns: bridge, service route, egress guard, sysctls, node 2's netns.

Everything here is recorded or named so `down` removes exactly it: the bridge `cktb0`, the
`CHAOSKIT-TB-GUARD` chain, kube-proxy/kubelet `KUBE-*` chains, sysctls restored to saved values, the
netns `cktb-n2` with its veth `cktb-n2h` and route (and `/run/netns` if `up` created it).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
from pathlib import Path

from . import config


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def save_sysctls(state: Path) -> None:
    values = {}
    for name in config.SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    (state / "sysctls.json").write_text(json.dumps(values, indent=2))
    absent = [d for d in config.HOST_DIRS if not Path(d).exists()]
    (state / "host-dirs-created.json").write_text(json.dumps(absent))


def restore_sysctls(state: Path) -> None:
    saved = state / "sysctls.json"
    if not saved.exists():
        return
    for name, value in json.loads(saved.read_text()).items():
        with contextlib.suppress(OSError):
            _sysctl_path(name).write_text(value + "\n")


GUARDED = (config.CLUSTER_CIDR, config.SERVICE_CIDR, config.NODE2_LINK_CIDR, config.LB_CIDR)
"""Pod, service, node-2 link and load-balancer addresses: never allowed out by any interface but ours."""
RUN_NETNS = Path("/run/netns")


def setup(nodes: tuple[config.Node, ...], state: Path) -> None:
    """Bridge with the node IP, service CIDR routed into it, node 2's netns, and a guard that drops test
    traffic on any other interface (so pod/service/node addresses can never leave by the uplink)."""
    run("modprobe", "br_netfilter", check=False)
    run("ip", "link", "add", config.BRIDGE, "type", "bridge")
    run("ip", "addr", "add", f"{config.NODE_IP}/16", "dev", config.BRIDGE)
    run("ip", "link", "set", config.BRIDGE, "up")
    # Host -> ClusterIP: without this route the host would pick its uplink as source and route.
    run("ip", "route", "add", config.SERVICE_CIDR, "dev", config.BRIDGE, "src", config.NODE_IP)
    # Host -> LoadBalancer ingress addresses (tb/cloud.py): kube-proxy DNATs them like ClusterIPs.
    run("ip", "route", "add", config.LB_CIDR, "dev", config.BRIDGE, "src", config.NODE_IP)
    # kube-proxy needs bridged pod->service->pod traffic to traverse iptables.
    _sysctl_path("net.bridge.bridge-nf-call-iptables").write_text("1\n")
    _setup_guard()
    for node in nodes:
        if node.netns:
            # The host routes between node 1's bridge and node 2's link.
            _sysctl_path("net.ipv4.ip_forward").write_text("1\n")
            setup_node_netns(node, state)


def _setup_guard() -> None:
    ipt = ("iptables", "-w", "-t", "mangle")
    run(*ipt, "-N", config.GUARD_CHAIN)
    rules = [["-o", dev, "-j", "RETURN"] for dev in (config.BRIDGE, config.NODE2_VETH_HOST, "lo")]
    rules += [[flag, cidr, "-j", "DROP"] for flag in ("-d", "-s") for cidr in GUARDED]
    for rule in rules:
        run(*ipt, "-A", config.GUARD_CHAIN, *rule)
    # mangle POSTROUTING sees every routed packet (local and forwarded) after routing, and
    # kube-proxy never inserts rules ahead of it there.
    run(*ipt, "-I", "POSTROUTING", "1", "-j", config.GUARD_CHAIN)


def in_netns(node: config.Node, *argv: str) -> subprocess.CompletedProcess[str]:
    # nsenter, not `ip netns exec`: that also remounts /sys, which would hide the cgroup mounts.
    return run("nsenter", f"--net={RUN_NETNS / str(node.netns)}", "--", *argv)


def setup_node_netns(node: config.Node, state: Path) -> None:
    """Node 2's netns: `eth0` (node IP) veth-linked to the host, routes both ways, forwarding sysctls."""
    ns = str(node.netns)
    (state / "run-netns-created").write_text("1" if not RUN_NETNS.exists() else "0")
    run("ip", "netns", "add", ns)
    run("ip", "link", "add", config.NODE2_VETH_HOST, "type", "veth", "peer", "name", "eth0", "netns", ns)
    prefix = config.NODE2_LINK_CIDR.split("/")[1]
    run("ip", "addr", "add", f"{config.NODE2_HOST_IP}/{prefix}", "dev", config.NODE2_VETH_HOST)
    run("ip", "link", "set", config.NODE2_VETH_HOST, "up")
    for argv in (("addr", "add", f"{node.ip}/{prefix}", "dev", "eth0"), ("link", "set", "lo", "up"),
                 ("link", "set", "eth0", "up"), ("route", "add", "default", "via", config.NODE2_HOST_IP)):
        run("ip", "-n", ns, *argv)
    # Host (and node 1's pods, whose gateway is the host) -> node 2's pods.
    run("ip", "route", "add", node.pod_cidr, "via", node.ip, "dev", config.NODE2_VETH_HOST)
    # A new netns starts with forwarding off; br_netfilter's switch is per netns too. kube-proxy needs
    # no route_localnet here (localhostNodePorts: false).
    in_netns(node, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1")


def teardown_node_netns(state: Path) -> list[str]:
    """Delete node 2's netns (its iptables, bridge and pod veths go with it) and the host end of its veth."""
    if run("ip", "netns", "pids", config.NODE2_NETNS, check=False).stdout.split():
        return [f"processes still in netns {config.NODE2_NETNS}"]
    run("ip", "netns", "delete", config.NODE2_NETNS, check=False)
    if run("ip", "link", "show", config.NODE2_VETH_HOST, check=False).returncode == 0:
        run("ip", "link", "delete", config.NODE2_VETH_HOST, check=False)
    created = state / "run-netns-created"
    if created.exists() and created.read_text() == "1" and RUN_NETNS.is_dir() and not any(RUN_NETNS.iterdir()):
        # `ip netns add` made /run/netns a (shared) bind mount of itself.
        run("umount", str(RUN_NETNS), check=False)
        with contextlib.suppress(OSError):
            RUN_NETNS.rmdir()
    problems = []
    if (RUN_NETNS / config.NODE2_NETNS).exists():
        problems.append(f"netns {config.NODE2_NETNS} still present")
    if run("ip", "link", "show", config.NODE2_VETH_HOST, check=False).returncode == 0:
        problems.append(f"veth {config.NODE2_VETH_HOST} still present")
    return problems


def _delete_chains(ipt: str, table: str, owned: tuple[str, ...]) -> None:
    """Remove jumps to chains with an owned prefix from other chains, then flush and delete them."""
    dump = run(f"{ipt}-save", "-t", table, check=False).stdout.splitlines()
    chains = [ln[1:].split()[0] for ln in dump if ln.startswith(":")]
    mine = [c for c in chains if c.startswith(owned)]
    for line in dump:
        words = shlex.split(line)
        if words[:1] == ["-A"] and any(c in words[2:] for c in mine) and words[1] not in mine:
            run(ipt, "-w", "-t", table, "-D", words[1], *words[2:], check=False)
    for chain in mine:
        run(ipt, "-w", "-t", table, "-F", chain, check=False)
    for chain in mine:
        run(ipt, "-w", "-t", table, "-X", chain, check=False)


def teardown(state: Path, kube_proxy: str | None) -> list[str]:
    """Undo `setup` and the rules kube-proxy/kubelet made; returns what could not be removed."""
    problems = teardown_node_netns(state)
    if kube_proxy and Path(kube_proxy).exists():
        # kube-proxy's own cleanup knows its iptables and nftables artefacts.
        run(kube_proxy, "--cleanup", check=False)
    for ipt in ("iptables", "ip6tables"):
        for table in ("mangle", "nat", "filter"):
            _delete_chains(ipt, table, ("KUBE-", config.GUARD_CHAIN))
    for family, table in (("ip", "kube-proxy"), ("ip6", "kube-proxy")):
        run("nft", "delete", "table", family, table, check=False)
    if run("ip", "link", "show", config.BRIDGE, check=False).returncode == 0:
        run("ip", "link", "delete", config.BRIDGE, check=False)
    if run("ip", "link", "show", config.BRIDGE, check=False).returncode == 0:
        problems.append(f"bridge {config.BRIDGE} still present")
    restore_sysctls(state)
    return problems
