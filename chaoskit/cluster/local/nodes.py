"""Logical nodes of the local cluster and the scheduler that places pods on them."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chaoskit.cluster.local.pod import LocalPod
from chaoskit.cluster.local.spread import spread_allows
from chaoskit.cluster.protocol import NodeInfo
from chaoskit.vocab import selector_matches


@dataclass
class LocalNode:
    name: str
    ip: str
    root: Path
    """hostPath volumes of pods on this node live under this directory (never visible from another node)."""
    ready: bool = True
    """The API's Ready condition (a failed node keeps it until the node monitor grace period has passed)."""
    schedulable: bool = True
    failure: str | None = None
    """``stop`` or ``partition`` while the node is failed (its kubelet cannot reach the API server)."""
    labels: dict[str, str] = field(default_factory=dict)

    def info(self) -> NodeInfo:
        return NodeInfo(self.name, self.ip, self.ready, self.schedulable, dict(self.labels))


def pick_node(pod: LocalPod, nodes: Iterable[LocalNode], pods: Iterable[LocalPod],
              rng: random.Random, *, pinned: str | None = None) -> LocalNode | None:
    """Filter (nodeName, nodeSelector, Ready as the API sees it, not cordoned, hard topology spread constraints,
    the node of a local volume the pod's claim is ``pinned`` to), then spread: fewest pods of the same owner, then
    fewest pods overall; ties broken at random, like the default scheduler's scoring."""
    template = pod.template
    nodes, pods = list(nodes), list(pods)
    candidates = [
        n for n in nodes
        if n.ready and (n.schedulable or template.node_name == n.name)
        and (not template.node_name or template.node_name == n.name)
        and (pinned is None or pinned == n.name)
        and selector_matches(template.node_selector, n.labels) and spread_allows(pod, n, nodes, pods)
    ]
    if not candidates:
        return None
    live = [p for p in pods if not p.deleted and not p.terminating and p.node]

    def score(node: LocalNode) -> tuple[int, int, float]:
        same_owner = sum(1 for p in live if p.node == node.name and p.owner == pod.owner)
        total = sum(1 for p in live if p.node == node.name)
        return same_owner, total, rng.random()

    return min(candidates, key=score)
