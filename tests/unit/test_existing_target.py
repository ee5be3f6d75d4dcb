"""A target that already runs, resolved from what the API lists (pure): selector, replica count, the user's
objects, and every way it can be bad input (each message names the object)."""

from __future__ import annotations

from typing import Any

import pytest

from chaoskit.cluster.existing import ExistingTargetError, LiveObjects, describe_budget, desired_replicas, resolve
from chaoskit.discovery import DiscoveryError, discover

pytestmark = pytest.mark.unit
NS = "shop"


def workload(kind: str, name: str, labels: dict[str, str], *, replicas: int | None = None,
             owner: str | None = None, status: dict[str, Any] | None = None, uid: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "uid": uid or f"uid-{name}"}
    if owner:
        meta["ownerReferences"] = [{"kind": "Deployment", "name": owner, "controller": True}]
    spec: dict[str, Any] = {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"kind": kind, "metadata": meta, "spec": spec, "status": status or {}}


def pod(name: str, labels: dict[str, str], *, owner_kind: str | None = "ReplicaSet",
        deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "labels": labels, "uid": f"uid-{name}"}
    if owner_kind:
        meta["ownerReferences"] = [{"kind": owner_kind, "name": "x", "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"kind": "Pod", "metadata": meta, "spec": {"nodeName": "n1"}}


def service(name: str, selector: dict[str, str], ports: list[dict[str, Any]], *, kind: str = "ClusterIP",
            headless: bool = False, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "selector": selector, "ports": ports, **spec}
    if headless:
        body["clusterIP"] = "None"
    return {"kind": "Service", "metadata": {"name": name, "namespace": NS}, "spec": body}


WEB = {"app": "web"}
LIVE = LiveObjects(
    NS,
    workloads=(workload("Deployment", "web", WEB, replicas=3),
               workload("ReplicaSet", "web-7f", WEB, replicas=3, owner="web"),
               workload("ReplicaSet", "web-old", WEB, replicas=0, owner="web"),
               workload("DaemonSet", "agent", {"app": "agent"}, status={"desiredNumberScheduled": 2}),
               workload("StatefulSet", "db", {"app": "db"}, replicas=1)),
    pods=(pod("web-1", WEB), pod("web-2", WEB), pod("web-3", WEB), pod("web-0", WEB, deleting=True),
          pod("agent-a", {"app": "agent"}, owner_kind="DaemonSet"),
          pod("db-0", {"app": "db"}, owner_kind="StatefulSet"),
          pod("debug", {"app": "web", "debug": "1"}, owner_kind=None)),
    budgets=({"kind": "PodDisruptionBudget", "metadata": {"name": "web"},
              "spec": {"minAvailable": 2, "selector": {"matchLabels": WEB}}, "status": {"disruptionsAllowed": 1}},),
)


def test_a_deployment_by_name_brings_its_selector_replicas_and_replica_sets() -> None:
    target = resolve(LIVE, selector={}, workload=("Deployment", "web"))
    assert target.selector == WEB
    assert target.replicas == 3  # spec.replicas; the bare debug pod is not the Deployment's
    assert [w.text for w in target.workloads] == ["Deployment web", "ReplicaSet web-7f", "ReplicaSet web-old"]
    assert target.workloads[0].uid == "uid-web"
    assert sorted(p["metadata"]["name"] for p in target.pods) == ["debug", "web-1", "web-2", "web-3"]
    assert [describe_budget(b) for b in target.budgets] == [
        "PodDisruptionBudget web: minAvailable 2 (1 disruption(s) allowed now)"]
    assert not any("single replica" in n for n in target.notes())


def test_a_selector_counts_each_workload_once_and_bare_pods() -> None:
    target = resolve(LIVE, selector=WEB, workload=None)
    # The Deployment's 3 (its ReplicaSets are not counted again) + the bare pod.
    assert target.replicas == 4
    assert resolve(LIVE, selector={"app": "agent"}, workload=None).replicas == 2  # desiredNumberScheduled


def test_a_single_replica_says_any_pod_fault_is_an_outage() -> None:
    target = resolve(LIVE, selector={}, workload=("StatefulSet", "db"))
    assert target.replicas == 1
    assert any(n.startswith("single replica: the target has 1 pod (app=db), so any pod fault is a full outage")
               for n in target.notes())


def test_a_selector_given_with_a_workload_narrows_nothing_it_does_not_carry() -> None:
    assert resolve(LIVE, selector={"app": "web"}, workload=("Deployment", "web")).selector == WEB
    with pytest.raises(ExistingTargetError, match="the pods of Deployment web do not carry the labels tier=x"):
        resolve(LIVE, selector={"tier": "x"}, workload=("Deployment", "web"))


@pytest.mark.parametrize(("selector", "workload", "message", "hint"), [
    ({}, ("Deployment", "checkout"), "Deployment checkout does not exist in namespace shop",
     "Deployments there: web"),
    ({}, ("DaemonSet", "nope"), "DaemonSet nope does not exist in namespace shop", "DaemonSets there: agent"),
    ({"app": "cart"}, None, "no pod and no workload in namespace shop matches app=cart",
     "workloads in shop: Deployment web (app=web), DaemonSet agent (app=agent), StatefulSet db (app=db)"),
])
def test_what_is_not_there_is_named(selector: dict[str, str], workload: tuple[str, str] | None, message: str,
                                    hint: str) -> None:
    with pytest.raises(ExistingTargetError) as err:
        resolve(LIVE, selector=selector, workload=workload)
    assert str(err.value) == message
    assert hint in err.value.hint


def test_a_workload_without_pods_or_replicas_is_refused() -> None:
    empty = LiveObjects(NS, workloads=(workload("Deployment", "idle", {"app": "idle"}, replicas=0),))
    with pytest.raises(ExistingTargetError, match="want 0 pods: there is nothing to test"):
        resolve(empty, selector={"app": "idle"}, workload=None)
    waiting = LiveObjects(NS, workloads=(workload("Deployment", "new", {"app": "new"}, replicas=2),))
    with pytest.raises(ExistingTargetError, match="no pod in namespace shop matches app=new"):
        resolve(waiting, selector={}, workload=("Deployment", "new"))


def test_match_expressions_are_refused_with_a_way_out() -> None:
    odd = workload("Deployment", "odd", {"app": "odd"}, replicas=1)
    odd["spec"]["selector"]["matchExpressions"] = [{"key": "tier", "operator": "In", "values": ["a"]}]
    with pytest.raises(ExistingTargetError, match="matchExpressions") as err:
        resolve(LiveObjects(NS, workloads=(odd,), pods=(pod("odd-1", {"app": "odd"}),)), selector={},
                workload=("Deployment", "odd"))
    assert "selector:" in err.value.hint


def test_replicas_are_read_again_at_verify() -> None:
    target = resolve(LIVE, selector={}, workload=("Deployment", "web"))
    scaled = LiveObjects(NS, workloads=(workload("Deployment", "web", WEB, replicas=5),))
    assert desired_replicas(scaled, target) == 5
    assert desired_replicas(LIVE, target) == 3


def test_discovery_finds_the_services_and_the_ways_in() -> None:
    services = [
        service("web", WEB, [{"name": "metrics", "port": 9090, "targetPort": 9090},
                             {"name": "http", "port": 80, "targetPort": "http"}]),
        service("web-np", WEB, [{"port": 80, "targetPort": 8080, "nodePort": 30080}], kind="NodePort",
                externalTrafficPolicy="Local"),
        service("web-lb", WEB, [{"name": "https", "port": 443, "nodePort": 31443}, {"name": "http-alt", "port": 80,
                                                                                  "nodePort": 31080}],
                kind="LoadBalancer"),
        service("web-hl", WEB, [{"name": "grpc", "port": 50051}], headless=True),
        service("other", {"app": "other"}, [{"port": 80}]),
        service("ext", {}, [{"port": 80}], kind="ExternalName"),
    ]
    found = {f.name: f for f in discover(services, [WEB], live=True)}
    assert sorted(found) == ["web", "web-hl", "web-lb", "web-np"]
    assert (found["web"].ways, found["web"].port) == (("ClusterIP",), "http")
    assert found["web-np"].describe() == ("web-np (NodePort, ports 80->8080 nodePort 30080, externalTrafficPolicy "
                                          "Local): loaded as ClusterIP, NodePort on port 80")
    assert found["web-lb"].ways == ("ClusterIP", "NodePort") and found["web-lb"].port == "http-alt"
    assert "no load-balancer ingress" not in found["web-lb"].describe()
    assert "its load-balancer ingress is not loaded: it has none yet" in found["web-lb"].describe()
    assert (found["web-hl"].ways, found["web-hl"].port) == (("Headless",), "grpc")  # the only port
    services[2]["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
    lb = next(f for f in discover(services, [WEB], live=True) if f.name == "web-lb")
    assert lb.ways == ("ClusterIP", "NodePort", "LoadBalancer") and not lb.unused


def test_discovery_asks_when_it_cannot_choose() -> None:
    ambiguous = service("db", {"app": "db"}, [{"name": "pg", "port": 5432}, {"name": "repl", "port": 5433}])
    with pytest.raises(DiscoveryError, match="Service db has 2 ports and none looks like HTTP") as err:
        discover([ambiguous], [{"app": "db"}], live=True)
    assert "pg 5432->5432, repl 5433->5433" in err.value.hint and "port:" in err.value.hint
    with pytest.raises(DiscoveryError, match="no Service selects the target's pods"):
        discover([ambiguous], [{"app": "web"}], live=True)
