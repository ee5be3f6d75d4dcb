"""Safety checks and configuration of the kube backend: allowlist, namespaces, kubeconfig, dry run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chaoskit.cluster.kube import KubeCluster, KubeOptions, UnsafeTargetError
from chaoskit.cluster.kube.api import ClusterUnreachable, KubeApi
from chaoskit.cluster.kube.apply import apply_object, labelled
from chaoskit.cluster.kube.config import (
    check_context,
    check_namespace,
    load_configuration,
    new_run_id,
    read_allowed_contexts,
)
from chaoskit.cluster.kube.disruption import cordon, delete_pod, evict
from chaoskit.cluster.protocol import ClusterError, ConfigurationError

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: {server: "https://127.63.0.1:1"}
- name: c2
  cluster: {server: "https://127.63.0.2:1"}
users:
- name: u
  user: {token: "t0k"}
contexts:
- name: first
  context: {cluster: c1, user: u}
- name: second
  context: {cluster: c2, user: u}
current-context: first
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return path


@pytest.mark.unit
def test_context_allowlist() -> None:
    check_context("kind-chaos", allowed=["kind-chaos"], yes=False)
    check_context("prod", allowed=[], yes=True)
    with pytest.raises(UnsafeTargetError, match="not in the allowlist") as err:
        check_context("prod", allowed=["kind-chaos"], yes=False)
    assert "--allow-context prod" in err.value.hint


@pytest.mark.unit
@pytest.mark.parametrize("namespace", ["kube-system", "kube-public", "kube-node-lease"])
def test_control_plane_namespaces_are_refused_even_when_named(namespace: str) -> None:
    with pytest.raises(UnsafeTargetError, match="never touched"):
        check_namespace(namespace, allowed=[namespace])


@pytest.mark.unit
def test_unnamed_namespace_is_refused() -> None:
    check_namespace("chaoskit-demo", allowed=["chaoskit-demo"])
    with pytest.raises(UnsafeTargetError, match="not named by the experiment"):
        check_namespace("default", allowed=["chaoskit-demo"])


@pytest.mark.unit
def test_config_file_allowed_contexts(tmp_path: Path) -> None:
    assert read_allowed_contexts(tmp_path / "missing.yaml") == ()
    good = tmp_path / "config.yaml"
    good.write_text("allowed_contexts:\n  - kind-chaos\n  - minikube\n")
    assert read_allowed_contexts(good) == ("kind-chaos", "minikube")
    bad = tmp_path / "bad.yaml"
    bad.write_text("allowed_contexts: kind-chaos\n")
    with pytest.raises(UnsafeTargetError, match="must be a list"):
        read_allowed_contexts(bad)


@pytest.mark.unit
def test_run_ids_are_label_safe_and_distinct() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) <= 63 and i.replace("-", "").isalnum() for i in ids)


@pytest.mark.unit
def test_kubeconfig_context_selection(kubeconfig: Path) -> None:
    current = load_configuration(KubeOptions(kubeconfig=kubeconfig, in_cluster=False))
    assert current.context == "first"
    assert current.configuration.host == "https://127.63.0.1:1"
    other = load_configuration(KubeOptions(kubeconfig=kubeconfig, context="second", in_cluster=False))
    assert (other.context, other.configuration.host) == ("second", "https://127.63.0.2:1")
    with pytest.raises(ConfigurationError, match="context 'nope' is not in kubeconfig") as info:
        load_configuration(KubeOptions(kubeconfig=kubeconfig, context="nope", in_cluster=False))
    assert info.value.hint.startswith("contexts there: first, second;")


@pytest.mark.unit
def test_kubeconfig_env_is_honoured(kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert load_configuration(KubeOptions()).context == "first"


@pytest.mark.local
def test_start_refuses_a_context_outside_the_allowlist(kubeconfig: Path, tmp_path: Path) -> None:
    options = KubeOptions(kubeconfig=kubeconfig, in_cluster=False, config_file=tmp_path / "none.yaml")
    cluster = KubeCluster(options)
    with pytest.raises(UnsafeTargetError, match="'first' is not in the allowlist"):
        asyncio.run(cluster.start())
    asyncio.run(cluster.close())


@pytest.mark.local
def test_dry_run_sends_no_change(kubeconfig: Path) -> None:
    # The server address is a closed loopback port: any request that is really sent fails.
    cfg = load_configuration(KubeOptions(kubeconfig=kubeconfig, in_cluster=False)).configuration
    cfg.retries = 0
    api = KubeApi(cfg, request_timeout_s=2.0, dry_run=True)
    try:
        delete_pod(api, "chaoskit-demo", "p1", grace_seconds=0.2)
        evict(api, "chaoskit-demo", "p2", grace_seconds=None)
        api.request("PATCH", "/api/v1/nodes/n1", body={"spec": {"unschedulable": True}},
                    content_type="application/merge-patch+json")
        verbs = [(a.verb, a.path) for a in api.planned]
        assert verbs == [("DELETE", "/api/v1/namespaces/chaoskit-demo/pods/p1"),
                         ("POST", "/api/v1/namespaces/chaoskit-demo/pods/p2/eviction"),
                         ("PATCH", "/api/v1/nodes/n1")]
        assert '"gracePeriodSeconds": 1' in api.planned[0].detail  # 0.2 s rounds up, never down
        with pytest.raises(ClusterUnreachable):
            cordon(api, "n1", run_id="r")  # reads are real: proves the port is closed
        with pytest.raises(ClusterUnreachable):
            apply_object(api, labelled({"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": "x", "namespace": "n"}}, run_id="r"))
    finally:
        api.close()


@pytest.mark.unit
def test_kube_cluster_implements_the_protocol() -> None:
    from chaoskit.cluster.protocol import Cluster

    cluster = KubeCluster()
    assert isinstance(cluster, Cluster)
    assert cluster.backend == "kube"
    with pytest.raises(ClusterError, match="not started"):
        cluster.subscribe()
