"""manifests/rbac.yaml and manifests/rbac-existing.yaml grant exactly the rights chaoskit/cluster/kube/rbac.py
declares, and the code's API calls stay inside them (the read-only mode's, recorded by a fake API)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from chaoskit.cluster.kube import rbac
from chaoskit.cluster.kube.api import Resource

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]


def granted(manifest: str = "rbac.yaml") -> set[tuple[str, str, str, str]]:
    docs: list[Any] = list(YAML(typ="safe").load_all((ROOT / "manifests" / manifest).read_text()))
    out: set[tuple[str, str, str, str]] = set()
    for doc in docs:
        if doc["kind"] not in ("Role", "ClusterRole"):
            continue
        scope = ("cluster" if doc["kind"] == "ClusterRole" else
                 "agent" if doc["metadata"]["name"] == "chaoskit-node-agent" else "namespace")
        for rule in doc["rules"]:
            for verb in rule["verbs"]:
                for url in rule.get("nonResourceURLs", []):
                    out.add(("url", "", url, verb))
                for group in rule.get("apiGroups", []):
                    for resource in rule.get("resources", []):
                        out.add((scope, group, resource, verb))
    return out


def test_manifest_grants_exactly_the_declared_rights() -> None:
    declared = rbac.triples(rbac.NEEDED)
    have = granted()
    assert have - declared == set(), "granted but not needed"
    assert declared - have == set(), "needed but not granted"


def test_no_wildcards_and_no_secrets() -> None:
    have = granted()
    assert not any("*" in (g, r, v) for s, g, r, v in have if s != "url")
    assert not any(r == "secrets" for _s, _g, r, _v in have)


def test_every_resource_the_code_addresses_is_declared() -> None:
    # Paths like f"/api/v1/namespaces/{namespace}/pods/{name}/eviction" -> pods/eviction
    code = "\n".join(p.read_text() for p in (ROOT / "chaoskit" / "cluster" / "kube").glob("*.py"))
    used = set()
    for match in re.finditer(r'"/api(?:s/[\w.]+)?/v1(/[^"?]*)"', code):
        parts = [p for p in match.group(1).split("/") if p]
        if parts[:1] == ["namespaces"] and len(parts) >= 3:
            parts = parts[2:]
        resource = parts[0]
        if len(parts) >= 3 and not parts[2].startswith("{"):
            resource += "/" + parts[2]
        used.add(resource)
    declared = {r for _s, _g, r, _v in rbac.triples(rbac.NEEDED)}
    assert used, "the scan found no API paths: the pattern no longer matches the code"
    assert used - declared == set()
    assert {"pods/exec", "pods/eviction", "pods/log", "nodes", "endpointslices"} <= used


def test_the_existing_mode_manifest_grants_exactly_its_declared_rights() -> None:
    declared = rbac.triples(rbac.EXISTING)
    have = granted("rbac-existing.yaml")
    assert have - declared == set(), "granted but not needed"
    assert declared - have == set(), "needed but not granted"


def test_the_existing_mode_never_changes_the_users_objects() -> None:
    have = granted("rbac-existing.yaml")
    users = {"deployments", "statefulsets", "replicasets", "daemonsets", "services", "poddisruptionbudgets",
             "endpointslices", "namespaces", "nodes"}
    changes = {(r, v) for _s, _g, r, v in have if r in users and v in ("create", "update", "patch", "delete")}
    assert changes == {("nodes", "patch")}  # a drain's cordon, annotated and undone; nothing of the workload's
    assert not any("*" in (g, r, v) for s, g, r, v in have if s != "url")
    assert not any(r == "secrets" for _s, _g, r, _v in have)
    assert {(r, v) for _s, _g, r, v in have if r == "pods" and v in ("delete", "create")} == {("pods", "delete")}


class RecordingApi:
    """The two KubeApi methods the read-only mode's readers use: every request is recorded; lists are empty."""

    dry_run = False

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []

    def request(self, method: str, path: str, *, query: Any = None, **_: Any) -> dict[str, Any]:
        self.calls.append((method, path, tuple(query or ())))
        return {"items": []}

    def resource(self, api_version: str, kind: str) -> Resource:
        plural = {"Namespace": "namespaces", "Deployment": "deployments", "Service": "services",
                  "ConfigMap": "configmaps", "ServiceAccount": "serviceaccounts", "Job": "jobs", "Pod": "pods"}[kind]
        return Resource(api_version, kind, plural, kind != "Namespace")


def permission(method: str, path: str, query: tuple[tuple[str, str], ...]) -> tuple[str, str, str, str]:
    """(scope, group, resource, verb) an API request needs, as RBAC sees it."""
    parts = [p for p in path.split("/") if p]
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    scope = "cluster"
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        scope, rest = "namespace", rest[2:]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    named = len(rest) > 1
    verb = {"POST": "create", "PATCH": "patch", "DELETE": "delete"}.get(method) or (
        "get" if named else "watch" if ("watch", "true") in query else "list")
    return scope, group, resource, verb


def test_the_existing_mode_reads_ask_only_for_what_its_role_grants() -> None:
    from chaoskit.cluster.kube import cleanup, workloads

    api = RecordingApi()
    workloads.read_namespace(api, "shop")  # type: ignore[arg-type]
    cleanup.find_leftovers(api, run_id=None, namespaces=["shop"])  # type: ignore[arg-type]
    cleanup.sweep_markers(api, run_id=None, remove=False, namespaces=["shop"])  # type: ignore[arg-type]
    asked = {permission(*call) for call in api.calls}
    assert ("namespace", "apps", "statefulsets", "list") in asked  # the recording saw the reads
    assert ("namespace", "policy", "poddisruptionbudgets", "list") in asked
    assert asked - rbac.triples(rbac.EXISTING) == set()


def test_the_workload_reader_addresses_only_declared_resources() -> None:
    code = (ROOT / "chaoskit" / "cluster" / "kube" / "workloads.py").read_text()
    used = {m.group(1) for m in re.finditer(r'"/api(?:s/[\w.]+)?/v1/namespaces/\{namespace\}/(\w+)"', code)}
    assert used == {"deployments", "statefulsets", "replicasets", "daemonsets", "pods", "services",
                    "poddisruptionbudgets"}
    assert used <= {r for _s, _g, r, _v in rbac.triples(rbac.EXISTING)}
