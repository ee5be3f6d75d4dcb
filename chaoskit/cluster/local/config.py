"""Settings of the embedded local cluster, each with its unit and why its default is what it is."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoskit.experiment.models import EmbeddedCluster


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
    """A failed node turns NotReady (and its pods leave endpoints) this long after it stopped answering
    (kube-controller-manager's --node-monitor-grace-period, 40 s); an experiment may set it
    (``target.cluster.node_monitor_grace``)."""
    default_toleration_s: float = 300.0
    """tolerationSeconds of a pod without its own toleration for ``node.kubernetes.io/unreachable``: it is evicted
    from a NotReady node this long after the taint (the DefaultTolerationSeconds admission plugin's 300 s)."""
    restart_backoff_initial_s: float = 10.0
    """Delay before the second restart of a crashing container; the first restart is immediate (kubelet)."""
    restart_backoff_max_s: float = 300.0
    probe_timeout_s: float = 1.0
    """Default readinessProbe timeoutSeconds (kube default 1 s)."""
    python: str = field(default_factory=lambda: sys.executable)
    """Interpreter used to run the built-in target service."""


def config_for(settings: EmbeddedCluster, **overrides: Any) -> LocalClusterConfig:
    """The embedded cluster an experiment asks for (``target.cluster``), with ``overrides`` on top."""
    values: dict[str, Any] = {"nodes": settings.nodes, "node_monitor_grace_s": settings.node_monitor_grace}
    return LocalClusterConfig(**{**values, **overrides})
