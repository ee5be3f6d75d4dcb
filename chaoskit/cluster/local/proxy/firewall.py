"""What on this host can refuse connections to the embedded cluster before its proxy sees them.

Measured (issue 16, bench_proxy's ``ab`` aborting on "Connection refused" while proxy and target were
up): a kube-proxy running in this network namespace (the test bed's host node) installs, for every
NodePort Service of its own without endpoints, ``-A KUBE-EXTERNAL-SERVICES -m addrtype --dst-type LOCAL
-p tcp --dport <nodePort> -j REJECT`` in the filter table (kube-proxy v1.34 pkg/proxy/iptables/proxier.go;
``nodePortAddresses`` does not narrow this rule). Every 127.x.y.z address is LOCAL, so while that Service
has no endpoints, new connections to *any* loopback address on that port are refused by the host's
firewall: the proxy never sees them. (With ``externalTrafficPolicy: Local`` and no local endpoint the
rule is DROP: connect timeouts.) No probe can tell this apart from the inside; the run can only say so.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def kube_proxies_here(proc: Path = Path("/proc")) -> list[int]:
    """PIDs of kube-proxy processes in this process's network namespace (where their rules apply).

    A kube-proxy whose namespace cannot be read (another user's, without privileges) is counted: it
    may well share ours. One in another namespace (a kind node, the test bed's second node) is not.
    """
    with contextlib.suppress(OSError):
        ours = os.readlink(proc / "self" / "ns" / "net")
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "kube-proxy":
                continue
        except OSError:
            continue
        try:
            theirs = os.readlink(entry / "ns" / "net")
        except OSError:
            theirs = ours
        if theirs == ours:
            found.append(int(entry.name))
    return sorted(found)


def host_firewall_notes(node_ports: list[int]) -> list[str]:
    """A note when a kube-proxy shares our network namespace and this run has NodePort listeners."""
    pids = kube_proxies_here()
    if not pids or not node_ports:
        return []
    ports = ", ".join(str(p) for p in sorted(set(node_ports)))
    return [f"a kube-proxy runs on this host (pid {', '.join(map(str, pids))}): while a Service of its "
            f"own with the same nodePort ({ports}) has no endpoints, its firewall rule refuses new "
            "connections to every 127.x address on that port, before the embedded cluster's proxy sees "
            "them: refused connections to this run's NodePorts may be the host's doing, not the service's"]
