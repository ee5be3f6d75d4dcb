"""StatefulSets and PersistentVolumeClaims on a real two-node cluster (the test bed's StorageClasses, docs/testbed.md):
`standard` is network storage (one directory both nodes see: the data follows the pod), `local-path` is node-local
(the volume is provisioned where the pod first runs and pins it there).

`chaoskit run statefulset-data --backend kube` proves the shipped experiment's cells for the default class; the
local-path test proves the node-local cells: same node survives, another node cannot happen (the pod waits,
Pending, while its node is cordoned), and a StatefulSet deleted and re-created finds its claim and data again.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cluster.kube.apply import ObjectRef, delete_object, wait_gone
from chaoskit.cluster.manifests import load_manifest_files
from tests.kube.nodefail_support import MANIFESTS, admin, chaoskit
from tests.kube.support import kube_cluster, unique_namespace

pytestmark = pytest.mark.kube
DATA = "/usr/local/apache2/htdocs/data"
DB = {"app": "nf-db"}


@pytest.mark.slow
def test_statefulset_data_on_a_real_cluster(kube_context: str, tmp_path: Path) -> None:
    result = chaoskit("run", "statefulset-data", "--backend", "kube", "--context", kube_context, "--yes",
                      "--create-namespace", "--load-from", "local", "--out", str(tmp_path), "--json")
    assert result.returncode in (0, 1, 4), result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert not [r for r in summary["verdict"]["inconclusive"] if r.startswith("fault")], summary["verdict"]
    rows = summary["data"]
    print("\nstatefulset-data on kube:", json.dumps([{k: r[k] for k in (
        "fault", "volume_type", "placement", "survived", "victim_node", "replacement_node", "victim_claim",
        "replacement_claim")} for r in rows], indent=1))
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_type.setdefault(row["volume_type"], []).append(row)
    assert {r["fault"] for r in rows} == {"container-restart", "pod-delete", "pod-kill", "node-drain"}
    # The claim survives every fault, wherever the pod went, and the replacement has the victim's claim.
    claims = by_type["persistentVolumeClaim"]
    assert all(r["survived"] for r in claims), claims
    assert all(r["victim_claim"] and r["victim_claim"] == r["replacement_claim"] for r in claims), claims
    assert any(r["placement"] == "other-node" for r in claims), "the drain moved no pod to the other node"
    # emptyDir lives as long as the pod; hostPath as long as the node's directory.
    assert all(r["survived"] == (r["placement"] == "same-pod") for r in by_type["emptyDir"])
    assert all(r["survived"] == (r["placement"] != "other-node") for r in by_type["hostPath"])


def _stateful(namespace: str, storage_class: str) -> list[dict[str, Any]]:
    """nf-db with its claim template in ``storage_class``, in ``namespace``."""
    out = []
    for manifest in load_manifest_files([MANIFESTS / "nf-db.yaml"]):
        obj = json.loads(json.dumps(dict(manifest)))
        obj["metadata"]["namespace"] = namespace
        obj["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = storage_class
        out.append(obj)
    return out


def _pending_reason(context: str, namespace: str, pod: str) -> str:
    api = admin(context)
    try:
        found = api.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}")
    finally:
        api.close()
    for condition in found["status"].get("conditions") or []:
        if condition["type"] == "PodScheduled" and condition["status"] == "False":
            return f"{condition.get('reason')}: {condition.get('message')}"
    return ""


def test_a_node_local_claim_keeps_its_pod_on_its_node(kube_context: str) -> None:
    namespace = unique_namespace("local-path")
    manifests = _stateful(namespace, "local-path")

    async def scenario() -> None:
        cluster = kube_cluster(kube_context, namespace)
        await cluster.start()
        try:
            await cluster.apply(manifests)
            (pod,) = await cluster.wait_pods_ready(namespace, DB, count=1, timeout_s=120)
            assert pod.claims == {"data": "data-nf-db-0"}
            marker = f"local-{secrets.token_hex(4)}"
            await cluster.write_marker(namespace, pod.name, "httpd", DATA, marker)
            # Same node: the StatefulSet's pod comes back with its claim, on the node of its volume.
            await cluster.delete_pod(namespace, pod.name, grace_seconds=None)
            (again,) = await cluster.wait_pods_ready(namespace, DB, count=1, timeout_s=120)
            assert (again.node, again.claims) == (pod.node, pod.claims) and again.uid != pod.uid
            assert await cluster.read_marker(namespace, again.name, "httpd", DATA, marker)
            # Another node cannot happen: with its node cordoned the pod stays Pending, it does not move.
            await cluster.cordon(str(pod.node))
            await cluster.delete_pod(namespace, again.name, grace_seconds=None)
            reason = ""
            for _ in range(150):  # bounded: the scheduler says why within seconds
                pending = [p for p in await cluster.list_pods(namespace, DB) if not p.terminating]
                if pending and (reason := _pending_reason(kube_context, namespace, pending[0].name)):
                    break
                await asyncio.sleep(0.2)
            assert "Unschedulable" in reason and "volume node affinity conflict" in reason, reason
            await cluster.uncordon(str(pod.node))
            (back,) = await cluster.wait_pods_ready(namespace, DB, count=1, timeout_s=120)
            assert back.node == pod.node and await cluster.read_marker(namespace, back.name, "httpd", DATA, marker)
            # The StatefulSet deleted and re-created: its claim was kept (Retain) and is found again by name.
            api = admin(kube_context)
            try:  # the StatefulSet alone (remove() would also take the namespace chaoskit made, claims and all)
                ref = ObjectRef("apps/v1", "StatefulSet", namespace, "nf-db")
                await asyncio.to_thread(delete_object, api, ref)
                await asyncio.to_thread(wait_gone, api, ref, timeout_s=120)
            finally:
                api.close()
            await cluster.apply(manifests)
            (reborn,) = await cluster.wait_pods_ready(namespace, DB, count=1, timeout_s=120)
            assert reborn.claims == pod.claims and reborn.node == pod.node
            assert await cluster.read_marker(namespace, reborn.name, "httpd", DATA, marker)
        finally:
            await cluster.close()

    asyncio.run(scenario())
