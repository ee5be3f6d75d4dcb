"""manifests/rbac.yaml grants exactly the rights chaoskit/cluster/kube/rbac.py declares, and the code's
API calls stay inside them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from chaoskit.cluster.kube import rbac

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]


def granted() -> set[tuple[str, str, str, str]]:
    docs: list[Any] = list(YAML(typ="safe").load_all((ROOT / "manifests" / "rbac.yaml").read_text()))
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
