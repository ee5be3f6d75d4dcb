"""The rules about how many pods can serve: slow replacement, unprotected drain, co-located replicas, single
replica, externalTrafficPolicy Local, ephemeral data; each with the flaw absent too."""

from __future__ import annotations

import pytest
import yaml

from chaoskit.analysis.evidence import AddressFacts
from chaoskit.analysis.verdict import SloTargets
from chaoskit.checks.results import DataCheckResult
from chaoskit.vocab import EventKind
from tests.unit.findings_frames import Cluster, analyse, budget, deployment, facts, only, requests, rules

pytestmark = pytest.mark.unit


def _replaced(*, running_s: float, ready_s: float, scheduled_s: float = 1.01) -> Cluster:
    cluster = Cluster()
    for name, ip, node in (("web-5d8f-a", "10.0.0.1", "n1"), ("web-5d8f-b", "10.0.0.2", "n2")):
        cluster.pod(name, ip, node)
    cluster.synced(-2, "web-5d8f-a", "web-5d8f-b")
    cluster.fault(1, "delete#1", "pod-delete", ["web-5d8f-a"])
    cluster.terminate(1, "web-5d8f-a")
    cluster.synced(1.1, "web-5d8f-b")
    cluster.pod("web-5d8f-c", "10.0.0.3", "n1", scheduled_s=scheduled_s, running_s=running_s, ready_s=ready_s)
    cluster.synced(ready_s + 0.1, "web-5d8f-b", "web-5d8f-c")
    return cluster


def test_a_late_readiness_probe_that_breaks_the_recovery_slo_is_a_slow_replacement() -> None:
    run_facts = facts(deployment(probe={"initialDelaySeconds": 7, "periodSeconds": 5}, replicas=2))
    summary = analyse(requests(lambda t: False), _replaced(running_s=1.5, ready_s=8.5), run_facts,
                      slo=SloTargets(recovery_s=5))
    slow = only(summary, "slow-replacement")
    assert slow.evidence.measured["readiness_max_s"] == pytest.approx(7.0)
    assert slow.evidence.measured["probe_floor_s"] == 7.0 and slow.confidence == "high"
    assert "the recovery SLO is 5 s" in slow.evidence.lines[0]
    (container,) = yaml.safe_load(slow.snippet)["spec"]["template"]["spec"]["containers"]
    assert container == {"name": "httpd", "readinessProbe": {"initialDelaySeconds": 0, "periodSeconds": 1}}


def test_a_slow_application_start_is_not_the_probes_fault() -> None:
    run_facts = facts(deployment(probe={"periodSeconds": 1}, replicas=2))
    summary = analyse(requests(lambda t: False), _replaced(running_s=1.5, ready_s=8.5), run_facts,
                      slo=SloTargets(recovery_s=5))
    assert "slow-replacement" not in rules(summary)


def test_a_replacement_within_the_slo_is_not_slow() -> None:
    run_facts = facts(deployment(probe={"initialDelaySeconds": 2}, replicas=2))
    summary = analyse(requests(lambda t: False), _replaced(running_s=1.5, ready_s=3.6), run_facts,
                      slo=SloTargets(recovery_s=5))
    assert "slow-replacement" not in rules(summary)


def test_an_image_pull_that_dominates_is_named_and_an_outage_it_ended_counts() -> None:
    run_facts = facts(deployment(image="web:latest", replicas=1, probe={"periodSeconds": 1}))
    summary = analyse(requests(lambda t: 1.1 <= t < 7.6, outcome="refused"), _replaced(running_s=7, ready_s=7.5),
                      run_facts)
    slow = only(summary, "slow-replacement")
    assert slow.headline.endswith("in starting") and "went on until traffic recovered" in slow.evidence.lines[0]
    (container,) = yaml.safe_load(slow.snippet)["spec"]["template"]["spec"]["containers"]
    assert container["imagePullPolicy"] == "IfNotPresent"


def test_a_replacement_created_late_but_ready_at_once_is_not_slow() -> None:
    """A node failure: the replacement is created only when the pod is evicted (node monitor grace plus the
    toleration, 22 s here), then scheduled and Ready within a second; the wait was not the replacement's."""
    run_facts = facts(deployment(probe={"periodSeconds": 1}, replicas=1))
    summary = analyse(requests(lambda t: 1.0 <= t < 23.8, outcome="connect_timeout"),
                      _replaced(scheduled_s=23.0, running_s=23.5, ready_s=23.7), run_facts,
                      slo=SloTargets(recovery_s=5))
    assert "slow-replacement" not in rules(summary)
    (fault,) = summary.recovery
    assert fault.replacement_ready_s is not None and fault.replacement_ready_s > 20  # the clock itself is unchanged


def _drained(*, one_at_a_time: bool, nodes: tuple[str, ...] = ("n1", "n2")) -> Cluster:
    """Two pods on n2 and one on n1; n2 is drained at 3 s."""
    cluster = Cluster(nodes=nodes)
    pods = (("web-5d8f-a", "10.0.0.1", "n2"), ("web-5d8f-b", "10.0.0.2", "n2"), ("web-5d8f-c", "10.0.0.3", "n1"))
    for name, ip, node in pods:
        cluster.pod(name, ip, node)
    cluster.synced(-2, "web-5d8f-a", "web-5d8f-b", "web-5d8f-c")
    cluster.add(-4, EventKind.NODE_CORDONED, name="n1", node="n1")  # why b joined a: n1 was cordoned then
    cluster.add(-3.5, EventKind.NODE_UNCORDONED, name="n1", node="n1")
    cluster.fault(3, "drain#1", "node-drain", ["web-5d8f-a", "web-5d8f-b"])
    cluster.terminate(3, "web-5d8f-a")
    cluster.pod("web-5d8f-d", "10.0.0.4", "n1", ready_s=3.5)
    if one_at_a_time:
        cluster.synced(3.1, "web-5d8f-b", "web-5d8f-c")
        cluster.synced(3.6, "web-5d8f-b", "web-5d8f-c", "web-5d8f-d")
        cluster.terminate(3.7, "web-5d8f-b")
        cluster.synced(3.8, "web-5d8f-c", "web-5d8f-d")
    else:
        cluster.terminate(3, "web-5d8f-b")
        cluster.synced(3.1, "web-5d8f-c")
        cluster.synced(3.6, "web-5d8f-c", "web-5d8f-d")
    cluster.pod("web-5d8f-e", "10.0.0.5", "n1", ready_s=4.0)
    cluster.synced(4.1, "web-5d8f-c", "web-5d8f-d", "web-5d8f-e")
    return cluster


def _overloaded(t: float) -> bool:
    return 3.1 <= t < 3.6 and round(t * 100) % 2 == 0


def test_a_drain_that_took_two_of_three_at_once_wants_a_budget() -> None:
    summary = analyse(requests(_overloaded, outcome="http_5xx"), _drained(one_at_a_time=False), facts(deployment()))
    drain = only(summary, "drain-unprotected")
    assert drain.evidence.failures == 25 and drain.confidence == "high"
    assert drain.evidence.measured["serving_lowest"] == 1.0 and drain.evidence.measured["needed"] == 2.0
    assert "No PodDisruptionBudget selects the pods of Deployment web" in drain.evidence.lines[-1]
    assert yaml.safe_load(drain.snippet) == {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                             "metadata": {"name": "web"},
                                             "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}}


def test_a_budget_that_allowed_it_is_tightened() -> None:
    loose = facts(deployment(), budget(minAvailable=1))
    drain = only(analyse(requests(_overloaded, outcome="http_5xx"), _drained(one_at_a_time=False), loose),
                 "drain-unprotected")
    assert "PodDisruptionBudget web (minAvailable: 1) covers them but allowed it" in drain.evidence.lines[-1]
    assert yaml.safe_load(drain.snippet)["spec"] == {"maxUnavailable": 1, "minAvailable": None,
                                                     "selector": {"matchLabels": {"app": "web"}}}


def test_a_drain_one_pod_at_a_time_is_fine() -> None:
    summary = analyse(requests(lambda t: False), _drained(one_at_a_time=True), facts(deployment()))
    assert not rules(summary) & {"drain-unprotected"}


def test_two_of_three_replicas_on_one_of_three_nodes_are_co_located() -> None:
    summary = analyse(requests(_overloaded, outcome="http_5xx"),
                      _drained(one_at_a_time=False, nodes=("n1", "n2", "n3")), facts(deployment()))
    together = only(summary, "replicas-colocated")
    assert together.evidence.measured == {"replicas_on_node": 2.0, "replicas": 3.0, "nodes": 3.0}
    assert together.evidence.failures == 25 and together.confidence == "high"
    assert "web-5d8f-b was placed on n2 at t-3.000 s." in together.evidence.lines
    spread = yaml.safe_load(together.snippet)["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread == [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
                       "labelSelector": {"matchLabels": {"app": "web"}}}]


def test_three_replicas_on_two_nodes_have_to_share_one() -> None:
    summary = analyse(requests(_overloaded, outcome="http_5xx"), _drained(one_at_a_time=False), facts(deployment()))
    assert "replicas-colocated" not in rules(summary)


def test_a_spread_constraint_means_no_co_location_finding() -> None:
    summary = analyse(requests(lambda t: False), _drained(one_at_a_time=False), facts(deployment(spread=True)))
    assert "replicas-colocated" not in rules(summary)


def _single() -> Cluster:
    cluster = Cluster()
    cluster.pod("web-5d8f-a", "10.0.0.1", "n1")
    cluster.synced(-2, "web-5d8f-a")
    cluster.fault(2, "delete#1", "pod-delete", ["web-5d8f-a"])
    cluster.terminate(2, "web-5d8f-a")
    cluster.synced(2.1)
    cluster.pod("web-5d8f-b", "10.0.0.2", "n1", ready_s=4)
    cluster.synced(4.2, "web-5d8f-b")
    return cluster


def test_one_replica_is_a_full_outage() -> None:
    summary = analyse(requests(lambda t: 2.1 <= t < 4.2, outcome="refused"), _single(),
                      facts(deployment(replicas=1)))
    single = only(summary, "single-replica")
    assert single.evidence.failures == 210 and single.evidence.measured["without_ready_pod_s"] == pytest.approx(2.1)
    assert yaml.safe_load(single.snippet)["spec"] == {"replicas": 2}


def test_three_replicas_are_not_single() -> None:
    summary = analyse(requests(lambda t: 2.1 <= t < 4.2, outcome="refused"), _single(),
                      facts(deployment(replicas=3)))
    assert "single-replica" not in rules(summary)


def _local_policy() -> Cluster:
    cluster = Cluster()
    cluster.pod("web-5d8f-a", "10.0.0.1", "n2", ready_s=0)
    cluster.terminate(5, "web-5d8f-a")
    cluster.pod("web-5d8f-c", "10.0.0.3", "n2", ready_s=9)
    return cluster


def test_failures_on_a_local_policy_node_without_a_ready_pod_are_explained() -> None:
    target = "10.0.0.2:30080 (n2)"
    table = requests(lambda t: 5 <= t < 9, outcome="refused", every_ms=500, target=target, service_type="NodePort")
    local = AddressFacts("web-np", "NodePort", target, node="n2", traffic_local=True)
    found = only(analyse(table, _local_policy(), facts(deployment(), addresses=[local])), "traffic-policy-local")
    assert found.evidence.failures == 8 and found.workload == "Service web-np"
    assert found.evidence.lines[0].startswith(f"NodePort {target} failed 8 time(s) (refused 8) between t+5.000 s "
                                              "and t+8.500 s while n2 had no ready pod")
    assert yaml.safe_load(found.snippet)["spec"] == {"externalTrafficPolicy": "Cluster"}
    cluster_policy = AddressFacts("web-np", "NodePort", target, node="n2", traffic_local=False)
    summary = analyse(table, _local_policy(), facts(deployment(), addresses=[cluster_policy]))
    assert "traffic-policy-local" not in rules(summary)


def _check(expected: str, survived: bool) -> DataCheckResult:
    return DataCheckResult(volume="cache", volume_type="emptyDir", fault="pod-delete", trigger="pod-replaced",
                           placement="same-node", survived=survived, expected=expected, victim="web-5d8f-a",
                           replacement="web-5d8f-b", victim_node="n1", replacement_node="n1")


def test_an_emptydir_expected_to_survive_wants_a_claim() -> None:
    volumes = [{"name": "cache", "emptyDir": {}}]
    summary = analyse(requests(lambda t: False), _single(), facts(deployment(volumes=volumes)),
                      data=[_check("survives", False)] * 2)
    lost = only(summary, "ephemeral-data")
    assert lost.confidence == "high" and lost.evidence.measured == {"checks": 2.0, "lost": 2.0}
    patch, claim = list(yaml.safe_load_all(lost.snippet))
    assert patch["spec"]["template"]["spec"]["volumes"] == [
        {"name": "cache", "persistentVolumeClaim": {"claimName": "web-cache"}, "emptyDir": None, "hostPath": None}]
    assert claim["kind"] == "PersistentVolumeClaim" and claim["metadata"]["name"] == "web-cache"
    expected_lost = analyse(requests(lambda t: False), _single(), facts(deployment(volumes=volumes)),
                            data=[_check("lost", False)])
    assert "ephemeral-data" not in rules(expected_lost)
    stateful = analyse(requests(lambda t: False), _single(), facts(deployment(volumes=volumes, kind="StatefulSet")),
                       data=[_check("survives", False)])
    assert "volumeClaimTemplates" in yaml.safe_load(only(stateful, "ephemeral-data").snippet)["spec"]
