"""Host network and kernel state the test bed owns: bridge, service route, egress guard, sysctls.

Everything here is recorded or named so `down` removes exactly it: the bridge `cktb0`, the
`CHAOSKIT-TB-GUARD` chain, kube-proxy/kubelet `KUBE-*` chains, and sysctls restored to saved values.
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


def setup() -> None:
    """Bridge with the node IP, service CIDR routed into it, and a guard that drops test traffic
    on any other interface (so pod/service addresses can never leave by the uplink)."""
    run("modprobe", "br_netfilter", check=False)
    run("ip", "link", "add", config.BRIDGE, "type", "bridge")
    run("ip", "addr", "add", f"{config.NODE_IP}/16", "dev", config.BRIDGE)
    run("ip", "link", "set", config.BRIDGE, "up")
    # Host -> ClusterIP: without this route the host would pick its uplink as source and route.
    run("ip", "route", "add", config.SERVICE_CIDR, "dev", config.BRIDGE, "src", config.NODE_IP)
    # kube-proxy needs bridged pod->service->pod traffic to traverse iptables.
    _sysctl_path("net.bridge.bridge-nf-call-iptables").write_text("1\n")
    ipt = ("iptables", "-w", "-t", "mangle")
    run(*ipt, "-N", config.GUARD_CHAIN)
    for rule in (["-o", config.BRIDGE, "-j", "RETURN"], ["-o", "lo", "-j", "RETURN"],
                 ["-d", config.POD_CIDR, "-j", "DROP"], ["-d", config.SERVICE_CIDR, "-j", "DROP"],
                 ["-s", config.POD_CIDR, "-j", "DROP"], ["-s", config.SERVICE_CIDR, "-j", "DROP"]):
        run(*ipt, "-A", config.GUARD_CHAIN, *rule)
    # mangle POSTROUTING sees every routed packet (local and forwarded) after routing, and
    # kube-proxy never inserts rules ahead of it there.
    run(*ipt, "-I", "POSTROUTING", "1", "-j", config.GUARD_CHAIN)


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
    problems: list[str] = []
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
