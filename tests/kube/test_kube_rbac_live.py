"""manifests/rbac.yaml is enough: a whole experiment's worth of backend calls runs as the ``chaoskit``
ServiceAccount (a token from the TokenRequest API), and a right it lacks is refused with the RBAC hint."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from chaoskit.cluster.kube import KubeCluster
from chaoskit.cluster.kube.api import KubeApi
from chaoskit.cluster.kube.apply import ObjectRef, apply_object, delete_object, wait_gone
from chaoskit.cluster.protocol import ClusterError, ServiceKind
from tests.kube.support import SESSION, kube_options, unique_namespace
from tests.kube.test_kube_backend import SCRATCH, WEB, admin_api, web

pytestmark = pytest.mark.kube
ROOT = Path(__file__).parents[2]
NS = unique_namespace("rbac")
SUFFIX = f"-kt-rbac-{SESSION}"


def rbac_objects() -> list[dict[str, Any]]:
    """manifests/rbac.yaml moved to the test namespace, cluster-wide names suffixed (no clash)."""
    docs: list[Any] = list(YAML(typ="safe").load_all((ROOT / "manifests" / "rbac.yaml").read_text()))
    out = []
    for doc in docs:
        obj = copy.deepcopy(doc)
        meta = obj["metadata"]
        if "namespace" in meta:
            meta["namespace"] = NS
        else:
            meta["name"] += SUFFIX
        if obj["kind"] == "ClusterRoleBinding":
            obj["roleRef"]["name"] += SUFFIX
        for subject in obj.get("subjects", []):
            subject["namespace"] = NS
        out.append(obj)
    return out


def service_account_kubeconfig(admin: KubeApi, path: Path) -> None:
    token = admin.request("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/chaoskit/token",
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"expirationSeconds": 900}})["status"]["token"]
    cfg = admin.configuration
    cluster: dict[str, Any] = {"server": cfg.host}
    if cfg.ssl_ca_cert:
        cluster["certificate-authority"] = cfg.ssl_ca_cert
    else:
        cluster["insecure-skip-tls-verify"] = True
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "sa",
              "clusters": [{"name": "c", "cluster": cluster}],
              "users": [{"name": "sa", "user": {"token": token}}],
              "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}]}
    yaml = YAML()
    with path.open("w") as fh:
        yaml.dump(config, fh)


def test_service_account_with_the_shipped_rbac_runs_an_experiment(kube_context: str,
                                                                   tmp_path: Path) -> None:
    admin = admin_api(kube_context)
    ns_ref = ObjectRef("v1", "Namespace", "", NS)
    objects = rbac_objects()
    try:
        apply_object(admin, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        for obj in objects:
            apply_object(admin, obj)
        service_account_kubeconfig(admin, tmp_path / "sa.kubeconfig")
        options = kube_options("sa", NS, kubeconfig=tmp_path / "sa.kubeconfig",
                               create_namespaces=False)
        asyncio.run(_experiment(KubeCluster(options)))
    finally:
        for obj in objects:
            meta = obj["metadata"]
            delete_object(admin, ObjectRef(obj["apiVersion"], obj["kind"], meta.get("namespace", ""),
                                           meta["name"]))
        delete_object(admin, ns_ref)
        wait_gone(admin, ns_ref, timeout_s=120)
        admin.close()


async def _experiment(cluster: KubeCluster) -> None:
    await cluster.start()
    try:
        await cluster.apply(web(NS))
        pods = await cluster.wait_pods_ready(NS, WEB, count=3, timeout_s=90)
        for kind in (ServiceKind.CLUSTER_IP, ServiceKind.NODE_PORT, ServiceKind.HEADLESS):
            assert await cluster.service_addresses(NS, "contract-web-np", kind)
        await cluster.write_marker(NS, pods[0].name, "httpd", SCRATCH, "rbac")
        assert await cluster.read_marker(NS, pods[0].name, "httpd", SCRATCH, "rbac")
        await cluster.kill_container(NS, pods[1].name, "httpd")
        await cluster.delete_pod(NS, pods[2].name, grace_seconds=1)
        await cluster.wait_pods_ready(NS, WEB, count=3, timeout_s=60)
        node = (await cluster.list_nodes())[0].name
        await cluster.cordon(node)
        await cluster.uncordon(node)
        with pytest.raises(ClusterError) as err:  # outside the rights: Secrets are never granted
            await asyncio.to_thread(cluster._require_api().request, "GET",
                                    f"/api/v1/namespaces/{NS}/secrets")
        assert "rbac" in err.value.hint
    finally:
        await cluster.close()
