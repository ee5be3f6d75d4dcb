"""StatefulSets and PersistentVolumeClaims on the embedded cluster, with real processes and directories: stable
names and claims across pod deletion and drains, ordered creation, claims that outlive pods and StatefulSets,
network storage that follows the pod, and the manifests the local backend refuses (exit 2 material)."""

from __future__ import annotations

import asyncio
import copy
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.manifests import SourcedManifest, load_manifest_files, load_manifest_text
from chaoskit.cluster.protocol import EventKind, ManifestError, PodInfo
from tests.support import children_of, reap_zombies

pytestmark = pytest.mark.local
STATEFULSET = Path(__file__).resolve().parents[2] / "manifests" / "statefulset.yaml"
NS = "chaoskit-demo"
APP = {"app": "chaoskit-data"}
HTDOCS = "/usr/local/apache2/htdocs"


def _manifests(**spec: Any) -> list[SourcedManifest]:
    """The shipped StatefulSet manifest with ``spec`` fields of the StatefulSet replaced."""
    manifests = [copy.deepcopy(m) for m in load_manifest_files([STATEFULSET])]
    for manifest in manifests:
        if manifest["kind"] == "StatefulSet":
            manifest["spec"].update(spec)
    return manifests


async def _successor(cluster: LocalCluster, victim: PodInfo) -> PodInfo:
    """The Ready pod that took the victim's identity (its name, a new uid)."""
    for _ in range(300):  # bounded: re-created and Ready within 30 s
        pods = await cluster.wait_pods_ready(NS, APP, count=3, timeout_s=30)
        found = [p for p in pods if p.name == victim.name and p.uid != victim.uid]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{victim.name} was not re-created")


def test_names_and_claims_stay_across_pod_delete_and_drain_and_the_claim_follows_the_pod() -> None:
    async def scenario() -> None:
        async with LocalCluster(seed=11) as cluster:
            await cluster.apply(_manifests())
            pods = await cluster.wait_pods_ready(NS, APP, count=3, timeout_s=60)
            assert sorted(p.name for p in pods) == ["chaoskit-data-0", "chaoskit-data-1", "chaoskit-data-2"]
            assert all(p.claims == {"data": f"data-{p.name}"} and p.owner == "chaoskit-data" for p in pods)
            assert all(p.labels["statefulset.kubernetes.io/pod-name"] == p.name for p in pods)
            victim = pods[1]
            marker = f"m-{secrets.token_hex(4)}"
            for mount in ("data", "scratch"):
                await cluster.write_marker(NS, victim.name, "httpd", f"{HTDOCS}/{mount}", marker)
            await cluster.delete_pod(NS, victim.name, grace_seconds=None)
            again = await _successor(cluster, victim)
            assert again.claims == victim.claims and again.ip != victim.ip
            assert await cluster.read_marker(NS, again.name, "httpd", f"{HTDOCS}/data", marker)
            assert not await cluster.read_marker(NS, again.name, "httpd", f"{HTDOCS}/scratch", marker)
            assert again.node is not None
            await cluster.drain(again.node, grace_seconds=None, timeout_s=30)
            moved = await _successor(cluster, again)
            assert moved.node != again.node, "a drained node's pods come back elsewhere"
            assert moved.claims == victim.claims
            assert await cluster.read_marker(NS, moved.name, "httpd", f"{HTDOCS}/data", marker), \
                "network storage (the default class) follows the pod to another node"
            await cluster.uncordon(again.node)

    asyncio.run(scenario())


@pytest.mark.parametrize("policy", ["OrderedReady", "Parallel"])
def test_ordered_ready_creates_one_pod_after_the_other_parallel_all_at_once(policy: str) -> None:
    async def scenario() -> None:
        async with LocalCluster(seed=12) as cluster:
            events = cluster.subscribe()
            await cluster.apply(_manifests(podManagementPolicy=policy))
            await cluster.wait_pods_ready(NS, APP, count=3, timeout_s=60)
            order = [(e.kind, e.name) for e in events.drain() if e.kind in (EventKind.POD_ADDED, EventKind.POD_READY)]
            added = [name for kind, name in order if kind == EventKind.POD_ADDED]
            assert added == ["chaoskit-data-0", "chaoskit-data-1", "chaoskit-data-2"]
            for i in (1, 2):
                before_ready = order.index((EventKind.POD_READY, f"chaoskit-data-{i - 1}"))
                created = order.index((EventKind.POD_ADDED, f"chaoskit-data-{i}"))
                assert (created > before_ready) == (policy == "OrderedReady")

    asyncio.run(scenario())
    reap_zombies()
    assert children_of(os.getpid()) == [], "closing the cluster must not leave (or re-create) a pod"


def test_claims_outlive_the_statefulset_and_come_back_with_it() -> None:
    async def scenario() -> None:
        async with LocalCluster(seed=13) as cluster:
            manifests = _manifests(replicas=1)
            await cluster.apply(manifests)
            (pod,) = await cluster.wait_pods_ready(NS, APP, count=1, timeout_s=60)
            await cluster.write_marker(NS, pod.name, "httpd", f"{HTDOCS}/data", "before")
            await cluster.remove(manifests)
            assert await cluster.list_pods(NS, APP) == []
            claim = cluster.control.claims.claims[(NS, "data-chaoskit-data-0")]
            assert claim.directory is not None and (claim.directory / "before").is_file()
            await cluster.apply(manifests)
            (back,) = await cluster.wait_pods_ready(NS, APP, count=1, timeout_s=60)
            assert back.name == pod.name and back.uid != pod.uid
            assert await cluster.read_marker(NS, back.name, "httpd", f"{HTDOCS}/data", "before")

    asyncio.run(scenario())


SHARED_CLAIM = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: shared, namespace: chaoskit-demo}
spec: {accessModes: [ReadWriteMany], resources: {requests: {storage: 1Mi}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: chaoskit-demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: chaoskit/target
          volumeMounts: [{name: files, mountPath: /files}]
      volumes: [{name: files, persistentVolumeClaim: {claimName: shared}}]
"""


def test_a_bare_claim_is_shared_by_its_pods_and_removed_with_the_manifests() -> None:
    async def scenario() -> None:
        manifests = load_manifest_text(SHARED_CLAIM, "shared.yaml")
        async with LocalCluster(seed=14) as cluster:
            await cluster.apply(manifests)
            first, second = await cluster.wait_pods_ready(NS, {"app": "web"}, count=2, timeout_s=60)
            assert first.node != second.node and first.claims == second.claims == {"files": "shared"}
            await cluster.write_marker(NS, first.name, "web", "/files", "one")
            assert await cluster.read_marker(NS, second.name, "web", "/files", "one")
            directory = cluster.control.claims.claims[(NS, "shared")].directory
            assert directory is not None and directory.is_dir()
            await cluster.remove(manifests)
            assert (NS, "shared") not in cluster.control.claims.claims and not directory.exists()

    asyncio.run(scenario())


@pytest.mark.parametrize(("text", "expected"), [
    (SHARED_CLAIM.split("---\n", 1)[1], "bad.yaml#1: Deployment chaoskit-demo/web: volume 'files' names "
                                        "PersistentVolumeClaim 'shared', which is not in the manifests"),
    (SHARED_CLAIM.replace("spec: {accessModes", "spec: {storageClassName: fast, accessModes"),
     "bad.yaml#1: PersistentVolumeClaim chaoskit-demo/shared: storageClassName 'fast': no such StorageClass"),
    ("apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv}\nspec: {capacity: {storage: 1Gi}}\n",
     "static PersistentVolumes are not modelled"),
    (SHARED_CLAIM.replace("spec: {accessModes", "spec: {volumeName: pv-1, accessModes"),
     "spec.volumeName: is not supported by the local backend"),
])
def test_what_the_local_backend_cannot_honour_is_refused_before_anything_runs(text: str, expected: str) -> None:
    async def scenario() -> None:
        async with LocalCluster(seed=15) as cluster:
            with pytest.raises(ManifestError, match=expected) as caught:
                await cluster.apply(load_manifest_text(text, "bad.yaml"))
            assert caught.value.hint
            assert cluster.control.pods == {} and cluster.control.claims.claims == {}

    asyncio.run(scenario())
