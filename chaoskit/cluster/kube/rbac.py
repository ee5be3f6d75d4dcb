"""The API rights the kube backend uses, declared once; manifests/rbac.yaml must grant exactly ``NEEDED`` and
manifests/rbac-existing.yaml exactly ``EXISTING`` (unit tests compare them), and docs/rbac.md explains each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Scope = Literal["cluster", "namespace", "agent", "url"]


@dataclass(frozen=True, slots=True, order=True)
class Permission:
    scope: Scope
    """``cluster``: ClusterRole rule; ``namespace``: Role rule in each experiment namespace; ``agent``: Role rule
    in the node agents' namespace (``chaoskit-system``: node-failure only); ``url``: a non-resource URL
    (discovery)."""
    group: str
    resource: str
    """Resource (with subresource) or, for ``url``, the URL pattern."""
    verb: str
    why: str = ""


def _grant(scope: Scope, group: str, resource: str, verbs: str, why: str) -> list[Permission]:
    return [Permission(scope, group, resource, v, why) for v in verbs.split()]


CRUD = "get list watch create patch delete"
"""Server-side apply of a new object needs create and patch; removal needs delete and list+watch
(``wait_gone`` watches the collection with a field selector)."""

NEEDED: Final = frozenset(
    _grant("url", "", "/version", "get", "start(): the cluster answers")
    + _grant("url", "", "/api", "get", "discovery of core kinds")
    + _grant("url", "", "/api/*", "get", "discovery of core kinds")
    + _grant("url", "", "/apis", "get", "discovery of API groups")
    + _grant("url", "", "/apis/*", "get", "discovery of a group's kinds")
    + _grant("cluster", "", "nodes", "get list watch", "node watch, NodePort addresses, list_nodes")
    + _grant("cluster", "", "nodes", "patch", "cordon/uncordon (spec.unschedulable + annotation)")
    + _grant("cluster", "", "namespaces", CRUD, "create the experiment namespace when asked")
    + _grant("cluster", "", "pods", "list", "cleanup: leftover pods in any namespace")
    + _grant("cluster", "", "services", "list", "cleanup")
    + _grant("cluster", "", "configmaps", "list", "cleanup")
    + _grant("cluster", "", "serviceaccounts", "list", "cleanup")
    + _grant("cluster", "apps", "deployments", "list", "cleanup")
    + _grant("cluster", "batch", "jobs", "list", "cleanup")
    + _grant("cluster", "discovery.k8s.io", "endpointslices", "list",
             "node-failure partition: the API server's addresses (the kubernetes Service in default)")
    + _grant("namespace", "", "pods", "get list watch delete", "pod watch, wait_pods_ready, delete_pod")
    + _grant("namespace", "", "pods/exec", "get create",
             "markers and container kill (websocket exec: the upgrade is a GET, checked as both)")
    + _grant("namespace", "", "pods/eviction", "create", "drain via the Eviction API")
    + _grant("namespace", "", "pods/log", "get", "in-cluster load agent records")
    + _grant("namespace", "", "services", CRUD, "apply/remove the target Services")
    + _grant("namespace", "", "configmaps", CRUD, "load agent ConfigMap")
    + _grant("namespace", "", "serviceaccounts", CRUD, "load agent ServiceAccount (no rights)")
    + _grant("namespace", "apps", "deployments", CRUD, "apply/remove the target Deployment")
    + _grant("namespace", "batch", "jobs", CRUD, "load agent Job")
    + _grant("namespace", "discovery.k8s.io", "endpointslices", "list watch",
             "endpoint events, Headless addresses")
    + _grant("namespace", "apps", "statefulsets", "list", "a running target, Service discovery (read only)")
    + _grant("namespace", "apps", "replicasets", "list", "a running target, Service discovery (read only)")
    + _grant("namespace", "apps", "daemonsets", "list", "a running target, Service discovery (read only)")
    + _grant("namespace", "policy", "poddisruptionbudgets", "list", "the budgets over a running target (read only)")
    + _grant("agent", "", "pods", "get list watch create delete",
             "node-failure: the privileged node agent pod (start, wait for it, remove it)")
    + _grant("agent", "", "pods/exec", "get create", "node-failure: the go signal to the armed agent")
    + _grant("agent", "", "pods/log", "get", "node-failure: when the failure was in effect, and errors")
)


def triples(perms: frozenset[Permission]) -> set[tuple[str, str, str, str]]:
    """(scope, group, resource, verb) without the explanation: what a manifest can be compared with."""
    return {(p.scope, p.group, p.resource, p.verb) for p in perms}


AGENT = "get list watch create patch delete"
"""The in-cluster load agent's own objects: server-side apply (create, patch, get to tell new from existing),
removal (delete, then list+watch until gone)."""

EXISTING: Final = frozenset(
    _grant("url", "", "/version", "get", "start(): the cluster answers")
    + _grant("url", "", "/api", "get", "discovery of core kinds (the agent's objects)")
    + _grant("url", "", "/api/*", "get", "discovery of core kinds")
    + _grant("url", "", "/apis", "get", "discovery of API groups")
    + _grant("url", "", "/apis/*", "get", "discovery of a group's kinds")
    + _grant("cluster", "", "nodes", "get list watch", "node watch, NodePort addresses, list_nodes")
    + _grant("cluster", "", "nodes", "patch", "cordon/uncordon for a drain (spec.unschedulable + annotation)")
    + _grant("cluster", "", "namespaces", "get", "the namespace must exist (none is created in this mode)")
    + _grant("namespace", "", "pods", "get list watch delete", "pod watch, the target's pods, delete_pod")
    + _grant("namespace", "", "pods/exec", "get create", "markers and container kill (websocket exec)")
    + _grant("namespace", "", "pods/eviction", "create", "drain via the Eviction API")
    + _grant("namespace", "", "pods/log", "get", "in-cluster load agent records")
    + _grant("namespace", "", "services", "get list", "discovery and addresses of the user's Services (read only)")
    + _grant("namespace", "discovery.k8s.io", "endpointslices", "list watch", "endpoint events, Headless addresses")
    + _grant("namespace", "apps", "deployments", "list", "the target workload (read only)")
    + _grant("namespace", "apps", "statefulsets", "list", "the target workload (read only)")
    + _grant("namespace", "apps", "replicasets", "list", "the target workload (read only)")
    + _grant("namespace", "apps", "daemonsets", "list", "the target workload (read only)")
    + _grant("namespace", "policy", "poddisruptionbudgets", "list", "the budgets over the target (read only)")
    + _grant("namespace", "", "configmaps", AGENT, "load agent ConfigMap")
    + _grant("namespace", "", "serviceaccounts", AGENT, "load agent ServiceAccount (no rights)")
    + _grant("namespace", "batch", "jobs", AGENT, "load agent Job")
)
"""An experiment against what already runs (no manifests): the user's objects are only read; their pods are
deleted, evicted and exec'd into; chaoskit's own agent objects are created and removed. Also enough for
``chaoskit cleanup --backend kube --namespace <it>``."""
