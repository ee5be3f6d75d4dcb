"""Topology spread constraints on the embedded cluster, filtered as the scheduler's PodTopologySpread plugin
filters them: a node is allowed when placing the pod there keeps ``count(node) + 1 - min(count)`` within
``maxSkew``, counting the non-terminating pods the constraint's selector matches on every node the pod's
``nodeSelector`` allows (cordoned and NotReady nodes included unless ``nodeTaintsPolicy: Honor``).

Only ``kubernetes.io/hostname`` is a topology here (the local nodes have no zones). ``ScheduleAnyway`` is a
scoring preference, which the local scheduler's spread by owner already makes: it is accepted and has no
further effect.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from chaoskit.cluster.local.objects import FieldReader, SpreadConstraint
from chaoskit.vocab import selector_matches

if TYPE_CHECKING:
    from chaoskit.cluster.local.nodes import LocalNode
    from chaoskit.cluster.local.pod import LocalPod

HOSTNAME_KEY: Final = "kubernetes.io/hostname"
_FIELDS: Final = frozenset({"maxSkew", "topologyKey", "whenUnsatisfiable", "labelSelector", "nodeTaintsPolicy",
                            "nodeAffinityPolicy"})


def parse_spread(read: FieldReader, value: Any, path: str) -> tuple[SpreadConstraint, ...]:
    constraints = []
    for i, item in enumerate(read.items(value, path)):
        where = f"{path}[{i}]"
        entry = read.mapping(item, where)
        read.only(entry, _FIELDS, where)
        if entry.get("topologyKey") != HOSTNAME_KEY:
            raise read.fail(f"{where}.topologyKey", f"{entry.get('topologyKey')!r} is not supported by the local "
                            "backend", hint=f"the local nodes have only {HOSTNAME_KEY}; use --backend kube")
        when = entry.get("whenUnsatisfiable")
        if when not in ("DoNotSchedule", "ScheduleAnyway"):
            raise read.fail(f"{where}.whenUnsatisfiable", f"expected DoNotSchedule or ScheduleAnyway, got {when!r}")
        selector = read.mapping(entry.get("labelSelector"), f"{where}.labelSelector")
        if "matchExpressions" in selector:
            raise read.fail(f"{where}.labelSelector.matchExpressions", "is not supported by the local backend",
                            hint="use matchLabels")
        skew = int(read.number(entry.get("maxSkew"), f"{where}.maxSkew", 0))
        if skew < 1:
            raise read.fail(f"{where}.maxSkew", "must be at least 1")
        taints = entry.get("nodeTaintsPolicy", "Ignore")
        if taints not in ("Ignore", "Honor") or entry.get("nodeAffinityPolicy", "Honor") != "Honor":
            raise read.fail(where, "nodeTaintsPolicy must be Ignore or Honor, nodeAffinityPolicy Honor")
        if when == "DoNotSchedule":
            constraints.append(SpreadConstraint(skew, read.labels(selector.get("matchLabels"), where),
                                                honor_taints=taints == "Honor"))
    return tuple(constraints)


def spread_allows(pod: LocalPod, node: LocalNode, nodes: Iterable[LocalNode], pods: Iterable[LocalPod]) -> bool:
    """True when ``pod`` may go to ``node`` under every one of its hard spread constraints."""
    nodes, pods = list(nodes), list(pods)
    for constraint in pod.template.spread:
        domains = {n.name: 0 for n in nodes if selector_matches(pod.template.node_selector, n.labels)
                   and (not constraint.honor_taints or (n.schedulable and n.ready))}
        for other in pods:
            if (other.node in domains and not other.terminating and not other.deleted
                    and other.namespace == pod.namespace and selector_matches(constraint.selector,
                                                                              other.template.labels)):
                domains[other.node] += 1
        if node.name in domains and domains[node.name] + 1 - min(domains.values()) > constraint.max_skew:
            return False
    return True
