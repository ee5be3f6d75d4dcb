"""Topology spread constraints on the embedded cluster: what is accepted, what is refused with the field named,
and the skew filter (the scheduler's placements are proven end to end in tests/local/test_findings_before_after)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.local.nodes import LocalNode, pick_node
from chaoskit.cluster.local.parse import parse_workload
from chaoskit.cluster.local.pod import LocalPod, PodPlacement
from chaoskit.cluster.manifests import SourcedManifest
from chaoskit.cluster.protocol import ManifestError

pytestmark = pytest.mark.unit
HOSTNAME = "kubernetes.io/hostname"


def _deployment(*constraints: dict[str, Any]) -> SourcedManifest:
    return SourcedManifest.of({
        "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "httpd"}], "topologySpreadConstraints": list(constraints)},
        }}}, "web.yaml")


def _hard(**extra: Any) -> dict[str, Any]:
    return {"maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}, **extra}


def test_hard_hostname_constraints_are_read_and_soft_ones_add_nothing() -> None:
    workload = parse_workload(_deployment(_hard(nodeTaintsPolicy="Honor"),
                                          {**_hard(), "whenUnsatisfiable": "ScheduleAnyway"}))
    (constraint,) = workload.template.spread
    assert (constraint.max_skew, dict(constraint.selector), constraint.honor_taints) == (1, {"app": "web"}, True)


@pytest.mark.parametrize(("change", "field"), [
    ({"topologyKey": "topology.kubernetes.io/zone"}, "topologyKey"),
    ({"maxSkew": 0}, "maxSkew"),
    ({"minDomains": 2}, "minDomains"),
    ({"labelSelector": {"matchExpressions": []}}, "matchExpressions"),
])
def test_what_is_not_modelled_is_refused_with_the_field_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_workload(_deployment(_hard(**change)))
    assert "web.yaml: Deployment demo/web: spec.template.spec.topologySpreadConstraints[0]" in str(caught.value)
    assert field in str(caught.value)


def _placed(name: str, node: str, template: Any) -> LocalPod:
    pod = LocalPod(namespace="demo", name=name, owner="web", template=template, config=LocalClusterConfig(),
                   listener=lambda *_: None)
    pod.placement = PodPlacement(node, "127.0.0.9", Path("/nonexistent"), Path("/nonexistent"))
    return pod


def test_a_cordoned_empty_node_keeps_a_second_replica_off_the_other_node() -> None:
    template = parse_workload(_deployment(_hard())).template
    nodes = [LocalNode("n1", "127.0.255.1", Path("/nonexistent"), schedulable=False, labels={HOSTNAME: "n1"}),
             LocalNode("n2", "127.0.255.2", Path("/nonexistent"), labels={HOSTNAME: "n2"})]
    running = _placed("web-a", "n2", template)
    pending = LocalPod(namespace="demo", name="web-b", owner="web", template=template, config=LocalClusterConfig(),
                       listener=lambda *_: None)
    assert pick_node(pending, nodes, [running, pending], random.Random(1)) is None  # skew would be 2 - 0
    nodes[0].schedulable = True
    chosen = pick_node(pending, nodes, [running, pending], random.Random(1))
    assert chosen is not None and chosen.name == "n1"
    honoring = parse_workload(_deployment(_hard(nodeTaintsPolicy="Honor"))).template
    nodes[0].schedulable = False
    pending.template = honoring
    chosen = pick_node(pending, nodes, [_placed("web-a", "n2", honoring), pending], random.Random(1))
    assert chosen is not None and chosen.name == "n2"  # the cordoned node leaves the computation
