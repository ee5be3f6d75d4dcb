"""Settings of the embedded local cluster, each with its unit and why its default is what it is."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class LocalClusterConfig:
    nodes: int = 3
    """Number of logical nodes (each with its own loopback IP and hostPath root)."""
    state_dir: Path | None = None
    """Where node roots and pod directories live; a fresh temp dir (removed on close) when None."""
    subnet: int | None = None
    """Second octet of the cluster's 127.X.0.0/16; a free one is picked when None."""
    proxy_sync_latency_s: float = 0.1
    """Delay from an endpoint change to the proxies applying it (watch + iptables-restore on a real node)."""
    proxy_min_sync_period_s: float = 1.0
    """Minimum time between two proxy syncs; kube-proxy's iptables ``minSyncPeriod`` default (1 s)."""
    proxy_handoff: bool = True
    """Hand accepted connections to built-in targets (SCM_RIGHTS) instead of relaying them, as kube-proxy's DNAT
    takes itself out of the data path; False relays every byte through the proxy process."""
    node_monitor_grace_s: float = 40.0
    """A failed node turns NotReady (and its pods leave endpoints) this long after it stopped (kube default 40 s)."""
    pod_eviction_timeout_s: float = 300.0
    """Pods on a NotReady node are deleted and replaced after this long (kube's 300 s toleration)."""
    restart_backoff_initial_s: float = 10.0
    """Delay before the second restart of a crashing container; the first restart is immediate (kubelet)."""
    restart_backoff_max_s: float = 300.0
    probe_timeout_s: float = 1.0
    """Default readinessProbe timeoutSeconds (kube default 1 s)."""
    python: str = field(default_factory=lambda: sys.executable)
    """Interpreter used to run the built-in target service."""
