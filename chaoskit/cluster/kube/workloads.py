"""Read what already runs in a namespace (an experiment without manifests, ``chaoskit init``): workloads,
pods, Services and PodDisruptionBudgets. Only ``list`` requests (the read-only Role in
manifests/rbac-existing.yaml grants nothing more on them). Blocking; call it in a worker thread.

List items carry no ``kind`` (the list does): it is set on each item, so the pure code can tell them apart.
"""

from __future__ import annotations

from chaoskit.cluster.existing import LiveObjects
from chaoskit.cluster.kube.api import JsonObj, KubeApi
from chaoskit.cluster.kube.config import KubeOptions, check_namespace, load_configuration
from chaoskit.cluster.protocol import NotFoundError


def read_namespace(api: KubeApi, namespace: str) -> LiveObjects:
    """Every object of ``namespace`` a target can be made of (read only, also in a dry run)."""
    workloads = (_items(api, f"/apis/apps/v1/namespaces/{namespace}/deployments", "Deployment")
                 + _items(api, f"/apis/apps/v1/namespaces/{namespace}/statefulsets", "StatefulSet")
                 + _items(api, f"/apis/apps/v1/namespaces/{namespace}/replicasets", "ReplicaSet")
                 + _items(api, f"/apis/apps/v1/namespaces/{namespace}/daemonsets", "DaemonSet"))
    pods = _items(api, f"/api/v1/namespaces/{namespace}/pods", "Pod")
    services = _items(api, f"/api/v1/namespaces/{namespace}/services", "Service")
    try:
        budgets = _items(api, f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets", "PodDisruptionBudget")
    except NotFoundError:  # a cluster without policy/v1 (before 1.21) has no budgets to respect
        budgets = []
    return LiveObjects(namespace, workloads=tuple(workloads), pods=tuple(pods), services=tuple(services),
                       budgets=tuple(budgets))


def _items(api: KubeApi, path: str, kind: str) -> list[JsonObj]:
    return [{**item, "kind": kind} for item in api.request("GET", path).get("items", [])]


def read_cluster(options: KubeOptions, namespace: str) -> tuple[LiveObjects, int, str]:
    """(what runs in ``namespace``, the number of nodes, the context's name), read through ``options``'
    kubeconfig: ``chaoskit init`` only reads, so the context allowlist does not apply; control-plane namespaces
    are still refused."""
    check_namespace(namespace, allowed={namespace})
    loaded = load_configuration(options)
    api = KubeApi(loaded.configuration, request_timeout_s=options.request_timeout_s)
    try:
        live = read_namespace(api, namespace)
        nodes = len(api.request("GET", "/api/v1/nodes").get("items", []))
    finally:
        api.close()
    return live, nodes, loaded.context
