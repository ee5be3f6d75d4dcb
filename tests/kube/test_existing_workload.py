"""An experiment without manifests against a workload applied with kubectl (the user's, not chaoskit's): it is
found, loaded through the Services that select it and hit by pod faults; afterwards the Deployment, its
ReplicaSet, the Services and the PodDisruptionBudget have the same UIDs and specs, carry nothing of chaoskit's,
hold no marker file, and `chaoskit cleanup` finds nothing. `chaoskit init` on it writes a file that validates and
runs; the read-only Role of manifests/rbac-existing.yaml is enough for a whole run (no 403)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.kube.support import SESSION, unique_namespace

pytestmark = [pytest.mark.kube, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
NS = unique_namespace("existing")
WORKLOAD = ROOT / "tests" / "kube" / "manifests" / "existing-shop.yaml"
USERS_KINDS = "deployments,replicasets,services,poddisruptionbudgets"
EXPERIMENT = f"""\
name: shop-existing
description: Delete shop pods one at a time; the workload is the user's (no manifests).
target:
  namespace: {NS}
  workload: {{kind: Deployment, name: shop}}
load:
  rate: 20
  timeout: 2s
phases: {{baseline: 3s, chaos: 13s, recovery: 6s}}
faults:
  - kind: pod-delete
    schedule: {{at: 2s, every: 6s, times: 2}}
    target: {{count: 1}}
data:
  - volume: cache
    container: web
    expect: {{after_pod_replaced_same_node: lost, after_pod_replaced_other_node: lost}}
  - volume: cache
    container: sidecar
  - volume: config
    container: web
slo:
  availability: 90%
"""


def kubectl(context: str, *args: str, check: bool = True) -> str:
    """The test bed's kubectl (on PATH, else the one `testbed/build` made), against ``context``."""
    binary = shutil.which("kubectl") or next(
        (str(p) for p in sorted(Path.home().glob(".cache/chaoskit-testbed/*/bin/kubectl"))), None)
    if binary is None:
        pytest.skip("no kubectl: put it on PATH (testbed/build makes one)")
    done = subprocess.run([binary, "--context", context, *args], capture_output=True, text=True, timeout=120,
                          check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done.stdout


def chaoskit(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
             timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)


def users_objects(context: str) -> dict[str, dict[str, Any]]:
    """kind/name -> what must not change: uid, spec, labels, annotations (not status or resourceVersion)."""
    listing = json.loads(kubectl(context, "-n", NS, "get", USERS_KINDS, "-o", "json"))
    return {f"{o['kind']}/{o['metadata']['name']}": {
        "uid": o["metadata"]["uid"], "spec": o["spec"], "labels": o["metadata"].get("labels", {}),
        "annotations": o["metadata"].get("annotations", {})} for o in listing["items"]}


def pods(context: str) -> list[dict[str, Any]]:
    """The shop pods that are not going away."""
    items = json.loads(kubectl(context, "-n", NS, "get", "pods", "-l", "app=shop", "-o", "json"))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


@pytest.fixture(scope="module")
def shop(kube_context: str) -> Iterator[dict[str, dict[str, Any]]]:
    """The user's workload, applied with kubectl, Ready; yields its objects as they were before any run."""
    kubectl(kube_context, "create", "namespace", NS)
    try:
        kubectl(kube_context, "-n", NS, "apply", "-f", str(WORKLOAD))
        kubectl(kube_context, "-n", NS, "rollout", "status", "deployment/shop", "--timeout=120s")
        yield users_objects(kube_context)
    finally:
        kubectl(kube_context, "delete", "namespace", NS, "--wait=true", "--timeout=180s", check=False)


def assert_untouched(context: str, before: dict[str, dict[str, Any]]) -> None:
    after = users_objects(context)
    assert after == before  # same UIDs, specs, labels and annotations: only the pods changed
    for obj in before.values():
        assert not any("chaoskit" in k for k in (*obj["labels"], *obj["annotations"]))
    labelled = kubectl(context, "-n", NS, "get", "all,configmaps,serviceaccounts", "-l",
                       "app.kubernetes.io/managed-by=chaoskit", "-o", "name")
    assert labelled.strip() == ""  # nor anything of chaoskit's own (the agent) is left
    for pod in pods(context):
        name = pod["metadata"]["name"]
        assert not any("chaoskit" in k for k in pod["metadata"].get("labels", {}))
        found = kubectl(context, "-n", NS, "exec", name, "-c", "web", "--", "find", "/usr/local/apache2/htdocs/cache",
                        "/etc/shop", "-name", "*chaoskit-marker*")
        assert found.strip() == "", f"markers left in {name}: {found}"


def test_a_run_against_the_users_workload_changes_only_its_pods(kube_context: str, shop: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    pods_before = {p["metadata"]["uid"] for p in pods(kube_context)}
    experiment = tmp_path / "shop.yaml"
    experiment.write_text(EXPERIMENT)
    result = chaoskit("run", str(experiment), "--backend", "kube", "--context", kube_context, "--yes", "--json",
                      "--out", str(tmp_path / "runs"))
    assert result.returncode in (0, 1, 4), result.stderr[-3000:]
    summary = json.loads(result.stdout)
    notes = summary["context"]["notes"]
    assert any(n.startswith("the target already runs: Deployment shop, ReplicaSet shop-") for n in notes), notes
    discovered = next(n for n in notes if n.startswith("load.services discovered"))
    assert "shop (ClusterIP, ports metrics 9090->9090, http 80->http): loaded as ClusterIP on port http" in discovered
    assert "shop-local (NodePort, ports http 80->http nodePort" in discovered
    assert "externalTrafficPolicy Local): loaded as ClusterIP, NodePort on port http" in discovered
    assert len(summary["recovery"]) == 2 and summary["churn"]["pods_created"] >= 2
    requests = summary["availability"]
    assert {r["service_type"] for r in requests} >= {"ClusterIP", "NodePort"}
    states = {(r["volume"], r["not_checkable"] or "checked") for r in summary["data"]}
    assert states == {("cache", "checked"), ("cache", "no shell in container sidecar"),
                      ("config", "/etc/shop is read-only for container web")}
    assert all(not r["survived"] for r in summary["data"] if r["volume"] == "cache" and not r["not_checkable"])
    assert not any(c["slo"] == "data" and not c["passed"] for c in summary["verdict"]["checks"])
    pods_after = {p["metadata"]["uid"] for p in pods(kube_context)}
    assert pods_after != pods_before and summary["churn"]["pods_deleted"] >= 2  # only the pods changed
    assert_untouched(kube_context, shop)
    print("user's objects before and after (kind/name uid):",  # shown with -rP: the evidence for the report
          *(f"{key} {obj['uid']} == {users_objects(kube_context)[key]['uid']}" for key, obj in shop.items()),
          f"pods before {sorted(pods_before)} after {sorted(pods_after)}",
          f"verdict {summary['verdict']['outcome']}; availability (all phases): " + ", ".join(
              f"{r['service_type']} {r['ratio']:.3%} of {r['requests']}" for r in requests if r["phase"] == "all"),
          sep="\n  ")
    for extra in ([], ["--namespace", NS]):
        cleaned = chaoskit("cleanup", "--backend", "kube", "--context", kube_context, "--yes", "--dry-run", *extra)
        assert cleaned.returncode == 0, cleaned.stderr
        assert cleaned.stdout.splitlines()[0] == "nothing left behind", cleaned.stdout


def test_dry_run_names_the_users_objects_and_changes_nothing(kube_context: str, shop: dict[str, Any],
                                                             tmp_path: Path) -> None:
    experiment = tmp_path / "shop.yaml"
    experiment.write_text(EXPERIMENT)
    result = chaoskit("run", str(experiment), "--backend", "kube", "--context", kube_context, "--yes", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "these objects are yours: chaoskit reads them and never creates, changes or deletes them:" in out
    assert f"  Deployment shop (uid {shop['Deployment/shop']['uid']})" in out
    assert "  PodDisruptionBudget shop: minAvailable 1" in out
    assert "services discovered (their selector matches the target's pods), read only:" in out
    assert "API requests that would change the cluster:\n  none before the run" in out
    assert "teardown: chaoskit's own objects only" in out
    assert_untouched(kube_context, shop)


@pytest.mark.parametrize(("edit", "message"), [
    (("name: shop}", "name: shopp}"), f"Deployment shopp does not exist in namespace {NS}"),
    (("rate: 20\n", "rate: 20\n  services: [{name: shop, types: [ClusterIP], port: grpc}]\n"),
     "load.services[0].port: Service shop has no port named grpc"),
    (("container: sidecar", "container: nginx"), "data[1].container: container 'nginx' is not in the target's"),
])
def test_bad_input_is_found_before_anything_changes(kube_context: str, shop: dict[str, Any], tmp_path: Path,
                                                    edit: tuple[str, str], message: str) -> None:
    experiment = tmp_path / "shop.yaml"
    experiment.write_text(EXPERIMENT.replace(*edit))
    result = chaoskit("run", str(experiment), "--backend", "kube", "--context", kube_context, "--yes",
                      "--load-from", "in-cluster", "--out", str(tmp_path / "runs"))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.splitlines()[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert_untouched(kube_context, shop)


def test_init_writes_an_experiment_that_validates_and_runs(kube_context: str, shop: dict[str, Any],
                                                           tmp_path: Path) -> None:
    result = chaoskit("init", "--context", kube_context, "--namespace", NS, "--deployment", "shop", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "experiments" / "shop.yaml"
    text = written.read_text()
    assert "workload: {kind: Deployment, name: shop}" in text
    assert "# PodDisruptionBudget shop: minAvailable 1" in text
    assert "    - name: shop\n      types: [ClusterIP]\n      port: http" in text
    assert "    - name: shop-local\n      types: [ClusterIP, NodePort]\n      port: http" in text
    assert "  - volume: cache\n    container: web\n    volume_type: emptyDir" in text
    assert "volume: config" not in text  # mounted read-only: nothing to check
    assert chaoskit("validate", "shop", cwd=tmp_path).returncode == 0
    run = chaoskit("run", "shop", "--backend", "kube", "--context", kube_context, "--yes", "--json", "--baseline",
                   "3s", "--chaos", "21s", "--recovery", "5s", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert run.returncode in (0, 1, 4), run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert len(summary["recovery"]) == 2 and summary["data"]
    assert_untouched(kube_context, shop)


def test_the_read_only_role_runs_a_whole_experiment(kube_context: str, shop: dict[str, Any],
                                                    tmp_path: Path) -> None:
    """As a ServiceAccount bound to manifests/rbac-existing.yaml only, with the in-cluster load agent (its Job,
    ConfigMap and ServiceAccount are the only objects it creates): no request is refused."""
    objects = _rbac_objects()
    manifest = tmp_path / "rbac.yaml"
    with manifest.open("w") as fh:
        YAML().dump_all(objects, fh)
    kubectl(kube_context, "apply", "-f", str(manifest))
    try:
        kubeconfig = tmp_path / "sa.kubeconfig"
        _service_account_kubeconfig(kube_context, kubeconfig)
        experiment = tmp_path / "shop.yaml"
        experiment.write_text(EXPERIMENT)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        result = chaoskit("run", str(experiment), "--backend", "kube", "--context", "sa", "--yes", "--json",
                          "--load-from", "in-cluster", "--out", str(tmp_path / "runs"), env=env)
        assert result.returncode in (0, 1, 4), result.stderr[-3000:]
        assert "forbidden" not in result.stderr.lower() and "403" not in result.stderr
        summary = json.loads(result.stdout)
        assert not any("forbidden" in n.lower() for n in summary["context"]["notes"]), summary["context"]["notes"]
        assert "from an in-cluster Job" in summary["context"]["load"]
        assert summary["data"] and len(summary["recovery"]) == 2
        cleaned = chaoskit("cleanup", "--backend", "kube", "--context", "sa", "--yes", "--dry-run", "--namespace",
                           NS, env=env)
        assert cleaned.returncode == 0 and cleaned.stdout.startswith("nothing left behind"), cleaned.stderr
    finally:
        kubectl(kube_context, "delete", "-f", str(manifest), "--wait=true", check=False)
    assert_untouched(kube_context, shop)


def _rbac_objects() -> list[dict[str, Any]]:
    """manifests/rbac-existing.yaml moved to the test namespace, cluster-wide names suffixed (no clash)."""
    out = []
    for doc in YAML(typ="safe").load_all((ROOT / "manifests" / "rbac-existing.yaml").read_text()):
        obj = copy.deepcopy(doc)
        meta = obj["metadata"]
        if "namespace" in meta:
            meta["namespace"] = NS
        else:
            meta["name"] += f"-kt-{SESSION}"
        if obj["kind"] == "ClusterRoleBinding":
            obj["roleRef"]["name"] += f"-kt-{SESSION}"
        for subject in obj.get("subjects", []):
            subject["namespace"] = NS
        out.append(obj)
    return out


def _service_account_kubeconfig(context: str, path: Path) -> None:
    token = kubectl(context, "-n", NS, "create", "token", "chaoskit", "--duration=15m").strip()
    view = json.loads(kubectl(context, "config", "view", "--raw", "--minify", "-o", "json"))
    cluster = view["clusters"][0]["cluster"]
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "sa",
              "clusters": [{"name": "c", "cluster": cluster}],
              "users": [{"name": "sa", "user": {"token": token}}],
              "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}]}
    path.write_text(json.dumps(config))
