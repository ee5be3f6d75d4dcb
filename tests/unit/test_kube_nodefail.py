"""The node agent's pod, what it is told, what its log says, and which nodes are never failed (pure parts)."""

from __future__ import annotations

from typing import Any

import pytest

from chaoskit.cluster.kube import nodefail
from chaoskit.cluster.kube.translate import pod_info

pytestmark = pytest.mark.unit


def spec(**overrides: Any) -> nodefail.AgentSpec:
    values: dict[str, Any] = {"node": "worker-2", "mode": "partition", "duration_s": 40.0,
                              "namespace": "chaoskit-system", "name": "chaoskit-node-agent-r1-1", "run_id": "r1",
                              "api_endpoints": ("10.0.0.1:6443", "[fd00::1]:6443"), "armed_at_s": 1_800_000_000.0}
    values.update(overrides)
    return nodefail.AgentSpec(**values)


def test_the_agent_pod_runs_on_its_node_whatever_its_taints_privileged_and_time_bounded() -> None:
    pod = nodefail.render_pod(spec())
    pod_spec = pod["spec"]
    assert pod_spec["nodeName"] == "worker-2"  # no scheduler: a NotReady or cordoned node still gets it
    assert pod_spec["tolerations"] == [{"operator": "Exists"}]
    assert pod_spec["hostPID"] is True and pod_spec["hostNetwork"] is True
    assert pod_spec["automountServiceAccountToken"] is False  # it never talks to the API server
    assert pod_spec["activeDeadlineSeconds"] == 300 + 1 + 40 + 60  # arm wait + settle (rounded up) + duration
    (container,) = pod_spec["containers"]
    assert container["securityContext"] == {"privileged": True}
    assert container["image"] == "busybox:1.36.1"
    assert container["command"] == ["sh", "-c", nodefail.SCRIPT]  # arguments only through the environment
    env = {e["name"]: e["value"] for e in container["env"]}
    # Kubernetes rewrites $(NAME) of a container variable and $$ in a command: the script must hold neither.
    assert "$$" not in nodefail.SCRIPT and not any(f"$({name})" in nodefail.SCRIPT for name in env)
    assert env["MODE"] == "partition" and env["DURATION_S"] == "40" and env["SETTLE_S"] == "0.25"
    assert env["API_ENDPOINTS"] == "10.0.0.1:6443 [fd00::1]:6443"
    labels = pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "chaoskit" and labels["chaoskit.io/run-id"] == "r1"
    assert labels["app.kubernetes.io/name"] == nodefail.AGENT_NAME
    # By when the node is back at the latest, for `chaoskit cleanup` after a crash: armed + wait + duration.
    annotations = pod["metadata"]["annotations"]
    assert annotations[nodefail.RESTORES_BY_ANNOTATION] == "2027-01-15T08:05:41Z"  # 08:00:00 + 340.25 s


def test_its_namespace_lets_pod_security_admission_admit_privileged_pods() -> None:
    ns = nodefail.render_namespace("chaoskit-system", run_id="r1")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert ns["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "chaoskit"


def test_the_go_signal_carries_container_ids_as_arguments_and_never_signals_pid_1() -> None:
    command = nodefail.go_command(["abc123def4567890"])
    assert command[:2] == ["sh", "-c"] and command[-1] == "abc123def4567890"
    assert "kill -USR1 \"$(cat /tmp/agent.pid)\"" in command[2] and "kill 1" not in command[2]


def _pod(uid: str, *statuses: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"uid": uid}, "status": {"containerStatuses": list(statuses)}}


def test_stop_freezes_the_running_containers_of_every_pod_but_the_agents_own() -> None:
    running = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    pods = [
        _pod("a", {"containerID": "containerd://" + "a" * 64, "state": running},
             {"containerID": "containerd://" + "b" * 64, "state": {"terminated": {"exitCode": 0}}}),
        _pod("agent", {"containerID": "containerd://" + "c" * 64, "state": running}),
        _pod("b", {"containerID": "cri-o://" + "d" * 64, "state": running}, {"state": {"waiting": {}}}),
        _pod("c", {"containerID": "containerd://not-hex", "state": running}),
    ]
    assert nodefail.running_container_ids(pods, skip_uid="agent") == ["a" * 64, "d" * 64]


def test_partition_targets_the_ready_endpoints_of_the_kubernetes_service() -> None:
    slices = [{"ports": [{"name": "https", "port": 6443}],
               "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
                             {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
                             {"addresses": ["fd00::1"]}]}]
    assert nodefail.api_endpoints(slices) == ["10.0.0.1:6443", "[fd00::1]:6443"]


def test_the_log_says_when_the_failure_was_in_effect_and_what_went_wrong() -> None:
    log = nodefail.parse_log("\n".join([
        "some other output",
        "chaoskit-node-agent 100.5 armed mode=stop kubelet=42 duration=40",
        "chaoskit-node-agent 101.25 failed mode=stop stopped=7",
        "chaoskit-node-agent 141.3 restored",
    ]))
    assert (log.armed_s, log.failed_s, log.restored_s, log.errors) == (100.5, 101.25, 141.3, ())
    broken = nodefail.parse_log("chaoskit-node-agent 5.0 error: no kubelet process in this node's network namespace")
    assert broken.failed_s is None and broken.errors == ("5.0 error: no kubelet process in this node's network "
                                                         "namespace",)


def _node(name: str, address: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels},
            "status": {"addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname",
                                                                                   "address": name}]}}


def test_protected_nodes_are_the_control_plane_chaoskits_own_and_its_load_agents() -> None:
    nodes = [_node("cp", "10.0.0.1", **{"node-role.kubernetes.io/control-plane": ""}), _node("here", "10.0.0.2"),
             _node("pod-node", "10.0.0.3"), _node("agent-node", "10.0.0.4"), _node("free", "10.0.0.5")]
    assert nodefail.address_literals(nodes) == [f"10.0.0.{i}" for i in range(1, 6)]  # host names left out
    found = nodefail.protected(nodes, local_addresses=["10.0.0.2", "127.0.0.1"], own_node="pod-node",
                               load_agent_nodes=["agent-node"])
    assert sorted(found) == ["agent-node", "cp", "here", "pod-node"]
    assert "control plane" in found["cp"] and "10.0.0.2" in found["here"]
    assert "its pod" in found["pod-node"] and "load agent" in found["agent-node"]


def test_a_pod_info_on_kube_names_its_claims() -> None:
    pod = {"metadata": {"name": "data-0", "namespace": "ns", "uid": "u"},
           "spec": {"nodeName": "n1", "containers": [{"name": "c"}],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-data-0"}},
                                {"name": "scratch", "emptyDir": {}}]},
           "status": {"phase": "Running"}}
    info = pod_info(pod)
    assert info.claims == {"data": "data-data-0"}
    assert info.volumes == {"data": "persistentVolumeClaim", "scratch": "emptyDir"}
