"""KubeCluster on a real cluster, beyond the shared contract: events, labels, teardown, dry run, cleanup,
no-shell errors. Each test uses its own namespace, created and removed by the cluster object."""

from __future__ import annotations

import asyncio
import copy
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from chaoskit.cluster.events import Subscription
from chaoskit.cluster.kube import KubeCluster
from chaoskit.cluster.kube.api import KubeApi
from chaoskit.cluster.kube.cleanup import cleanup, find_leftovers
from chaoskit.cluster.kube.config import RUN_ID_LABEL, load_configuration
from chaoskit.cluster.kube.execs import NoShellError
from chaoskit.cluster.manifests import load_manifest_files
from chaoskit.cluster.protocol import ClusterEvent, EventKind, MarkerUnsupportedError, NotFoundError, ServiceKind
from tests.kube.support import kube_cluster, kube_options, unique_namespace
from tests.support import http_get

pytestmark = pytest.mark.kube
ROOT = Path(__file__).parents[2]
WEB = {"app": "contract-web"}
SCRATCH = "/usr/local/apache2/htdocs/scratch"


def web(namespace: str) -> list[dict[str, Any]]:
    """The contract's web manifests, moved into ``namespace``, nodePorts allocated by the cluster
    (a fixed one would collide with any other run on the same cluster)."""
    out = []
    for m in load_manifest_files([ROOT / "tests" / "contract" / "manifests" / "web.yaml"]):
        obj = copy.deepcopy(dict(m))
        obj["metadata"]["namespace"] = namespace
        for port in obj.get("spec", {}).get("ports", []) if obj["kind"] == "Service" else []:
            port.pop("nodePort", None)
        out.append(obj)
    return out


def admin_api(context: str) -> KubeApi:
    loaded = load_configuration(kube_options(context, "unused"))
    return KubeApi(loaded.configuration, request_timeout_s=30)


def namespace_exists(context: str, namespace: str) -> bool:
    api = admin_api(context)
    try:
        api.request("GET", f"/api/v1/namespaces/{namespace}")
    except NotFoundError:
        return False
    finally:
        api.close()
    return True


async def collect(events: Subscription, until: Any, *, timeout_s: float) -> list[ClusterEvent]:
    """Events until ``until(seen)`` holds (bounded by ``timeout_s``)."""
    seen: list[ClusterEvent] = []
    deadline = time.monotonic() + timeout_s
    while not until(seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"condition not reached; saw {[(e.kind, e.name) for e in seen]}"
        await events.wait(remaining)
        seen += events.drain()
    return seen


def first(seen: Sequence[ClusterEvent], kind: EventKind, **fields: str) -> int:
    for i, e in enumerate(seen):
        if e.kind is kind and all(getattr(e, k) == v for k, v in fields.items()):
            return i
    raise AssertionError(f"no {kind} {fields} in {[(e.kind, e.name, e.ip) for e in seen]}")


def test_apply_labels_objects_and_close_removes_everything(kube_context: str) -> None:
    ns = unique_namespace("apply")

    async def scenario() -> str:
        cluster = kube_cluster(kube_context, ns)
        await cluster.start()
        try:
            await cluster.apply(web(ns))
            pods = await cluster.wait_pods_ready(ns, WEB, count=3, timeout_s=90)
            assert len({p.ip for p in pods}) == 3
            api = admin_api(kube_context)
            try:
                dep = api.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/contract-web")
                managers = {f["manager"] for f in dep["metadata"]["managedFields"]}
            finally:
                api.close()
            assert dep["metadata"]["labels"][RUN_ID_LABEL] == cluster.options.run_id
            assert "chaoskit" in managers
            nodes = await cluster.list_nodes()
            assert nodes and all(n.address for n in nodes)
            # Pods turn Ready before the endpoint controller publishes them: wait for the slices first.
            await cluster.wait_endpoints(ns, "contract-web", [p.ip or "" for p in pods], timeout_s=60)
            headless = await cluster.service_addresses(ns, "contract-web", ServiceKind.HEADLESS)
            assert sorted(a.host for a in headless) == sorted(p.ip or "" for p in pods)
            # On the test bed chaoskit runs on the node: once kube-proxy programmed the new Service,
            # the ClusterIP answers here and auto picks local load.
            (cip,) = await cluster.service_addresses(ns, "contract-web", ServiceKind.CLUSTER_IP)
            for _ in range(100):  # bounded: kube-proxy's first sync of a new Service
                if (await http_get(cip.host, cip.port, timeout_s=1.0)).ok:
                    break
                await asyncio.sleep(0.1)  # the data path has no watch to wait on
            assert await cluster.load_origin(ns, "contract-web") == "local"
            return cluster.options.run_id
        finally:
            await cluster.close()

    run_id = asyncio.run(scenario())
    assert not [t.name for t in threading.enumerate() if t.name.startswith("watch ")]
    assert not namespace_exists(kube_context, ns)
    api = admin_api(kube_context)
    try:
        leftovers = find_leftovers(api, run_id=run_id)
    finally:
        api.close()
    assert (leftovers.objects, leftovers.nodes) == ([], [])


def test_pod_delete_event_order_on_one_clock(kube_context: str) -> None:
    ns = unique_namespace("events")

    async def scenario() -> None:
        cluster = kube_cluster(kube_context, ns)
        await cluster.start()
        try:
            await cluster.apply(web(ns))
            pods = await cluster.wait_pods_ready(ns, WEB, count=3, timeout_s=90)
            # Steady state includes the control plane's endpoints, which lag readiness (batched).
            await cluster.wait_endpoints(ns, "contract-web", [p.ip or "" for p in pods], timeout_s=30)
            victim = pods[0]
            events = cluster.subscribe()
            # A new subscription starts with the current state, stamped when it was first seen.
            state = events.drain()
            assert {e.ip for e in state if e.kind is EventKind.ENDPOINT_ADDED and e.service == "contract-web"} \
                == {p.ip for p in pods}
            assert {e.name for e in state if e.kind is EventKind.POD_READY} >= {p.name for p in pods}
            t0 = time.time_ns()
            assert all(e.ts_ns < t0 for e in state)
            await cluster.delete_pod(ns, victim.name, grace_seconds=0)
            after = await cluster.wait_pods_ready(ns, WEB, count=3, timeout_s=60)
            fresh = next(p for p in after if p.name not in {q.name for q in pods})

            def done(seen: list[ClusterEvent]) -> bool:
                return any(e.kind is EventKind.ENDPOINT_ADDED and e.ip == fresh.ip
                           and e.service == "contract-web" for e in seen)

            seen = await collect(events, done, timeout_s=30)
            events.close()
            assert all(e.ts_ns >= t0 for e in seen)
            gone = first(seen, EventKind.ENDPOINT_REMOVED, ip=victim.ip or "", service="contract-web")
            deleted = first(seen, EventKind.POD_DELETED, name=victim.name)
            added = first(seen, EventKind.POD_ADDED, name=fresh.name)
            ready = first(seen, EventKind.POD_READY, name=fresh.name)
            back = first(seen, EventKind.ENDPOINT_ADDED, ip=fresh.ip or "", service="contract-web")
            # Order within one watch stream is causal; across streams (pods vs slices) it is not.
            assert added < ready and gone < back and deleted >= 0
            assert seen[ready].source_ts_ns is not None
            # API timestamps have 1 s resolution; the host clock must agree within a couple of seconds.
            assert abs(seen[ready].ts_ns - seen[ready].source_ts_ns) < 3_000_000_000
            assert not any(e.kind is EventKind.PROXY_SYNCED for e in seen)
        finally:
            await cluster.close()

    asyncio.run(scenario())


def test_kill_container_restarts_it_in_place_with_events(kube_context: str) -> None:
    ns = unique_namespace("kill")

    async def scenario() -> None:
        cluster = kube_cluster(kube_context, ns)
        await cluster.start()
        try:
            await cluster.apply(web(ns))
            pod = (await cluster.wait_pods_ready(ns, WEB, count=3, timeout_s=90))[0]
            await cluster.write_marker(ns, pod.name, "httpd", SCRATCH, "m1")
            events = cluster.subscribe()
            killed_ns = time.time_ns()  # the subscription first replays the current state: look after the kill
            await cluster.kill_container(ns, pod.name, "httpd")
            seen = await collect(events, lambda s: any(
                e.kind is EventKind.POD_READY and e.name == pod.name and e.ts_ns >= killed_ns for e in s),
                timeout_s=60)
            events.close()
            seen = [e for e in seen if e.ts_ns >= killed_ns]
            died = first(seen, EventKind.CONTAINER_DIED, name=pod.name)
            restarted = first(seen, EventKind.CONTAINER_RESTARTED, name=pod.name)
            assert died <= restarted and seen[died].detail.startswith("httpd ")
            (now,) = [p for p in await cluster.list_pods(ns, WEB) if p.uid == pod.uid]
            assert now.restart_count == pod.restart_count + 1 and now.ip == pod.ip
            assert await cluster.read_marker(ns, pod.name, "httpd", SCRATCH, "m1")
            assert not await cluster.read_marker(ns, pod.name, "httpd", SCRATCH, "never-written")
        finally:
            await cluster.close()

    asyncio.run(scenario())


def test_container_without_a_shell_gives_a_clear_error(kube_context: str) -> None:
    ns = unique_namespace("noshell")
    pause = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": ns,
                                                              "labels": {"app": "bare"}},
             "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                 {"name": "pause", "image": "registry.k8s.io/pause:3.10.1",
                  "imagePullPolicy": "IfNotPresent",
                  "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
                 "volumes": [{"name": "scratch", "emptyDir": {}}]}}

    async def scenario() -> None:
        cluster = kube_cluster(kube_context, ns)
        await cluster.start()
        try:
            await cluster.apply([pause])
            await cluster.wait_pods_ready(ns, {"app": "bare"}, count=1, timeout_s=60)
            with pytest.raises(MarkerUnsupportedError, match="no /bin/sh") as err:  # a data check cannot run there
                await cluster.write_marker(ns, "bare", "pause", "/scratch", "m")
            assert "sidecar" in err.value.hint
            assert err.value.reason == "no shell in container pause"
            with pytest.raises(NoShellError):
                await cluster.kill_container(ns, "bare", "pause")
        finally:
            await cluster.close()

    asyncio.run(scenario())


def test_dry_run_lists_actions_and_creates_nothing(kube_context: str) -> None:
    ns = unique_namespace("dry")

    async def scenario() -> list[tuple[str, str]]:
        cluster = KubeCluster(kube_options(kube_context, ns, dry_run=True))
        await cluster.start()
        try:
            await cluster.apply(web(ns))
            assert await cluster.wait_pods_ready(ns, WEB, count=3, timeout_s=1) == []
            node = (await cluster.list_nodes())[0].name
            await cluster.cordon(node)
            await cluster.delete_pod(ns, "whatever", grace_seconds=None)
            return [(a.verb, a.path) for a in cluster.planned_actions()]
        finally:
            await cluster.close()

    planned = asyncio.run(scenario())
    paths = [p for _v, p in planned]
    assert ("PATCH", f"/api/v1/namespaces/{ns}") in [(v, p.split("?")[0]) for v, p in planned]
    assert any(p.startswith(f"/apis/apps/v1/namespaces/{ns}/deployments/contract-web") for p in paths)
    assert any(v == "PATCH" and p.startswith("/api/v1/nodes/") for v, p in planned)
    assert ("DELETE", f"/api/v1/namespaces/{ns}/pods/whatever") in planned
    assert any(v == "wait" for v, _p in planned)
    assert not namespace_exists(kube_context, ns)
    api = admin_api(kube_context)
    try:
        nodes = api.request("GET", "/api/v1/nodes")["items"]
    finally:
        api.close()
    assert not any(n["spec"].get("unschedulable") for n in nodes)


def test_cleanup_restores_what_a_crashed_run_left(kube_context: str) -> None:
    ns = unique_namespace("crash")

    async def crashed_run() -> tuple[str, str]:
        cluster = kube_cluster(kube_context, ns, keep_objects=True)
        await cluster.start()
        await cluster.apply(web(ns))
        node = (await cluster.list_nodes())[0].name
        await cluster.cordon(node)
        cluster._cordoned.clear()  # the journal a crash would lose
        await cluster.close()
        return cluster.options.run_id, node

    run_id, node = asyncio.run(crashed_run())
    try:
        assert namespace_exists(kube_context, ns)
        listed = subprocess.run(  # the CLI, dry run: lists, restores nothing
            [str(Path(sys.executable).with_name("chaoskit")), "cleanup", "--context", kube_context,
             "--allow-context", kube_context, "--run-id", run_id, "--dry-run"],
            capture_output=True, text=True, timeout=120, check=False, start_new_session=True)
        assert listed.returncode == 0, listed.stderr
        assert f"would restore: node {node} (uncordon)" in listed.stdout
        assert f"would restore: Namespace/{ns} (delete)" in listed.stdout
        assert namespace_exists(kube_context, ns)
        options = kube_options(kube_context, ns)
        found = asyncio.run(cleanup(options, run_id=run_id))
        assert node in found.nodes
        assert any(r.kind == "Namespace" and r.name == ns for r in found.objects)
        assert not namespace_exists(kube_context, ns)
        api = admin_api(kube_context)
        try:
            assert not api.request("GET", f"/api/v1/nodes/{node}")["spec"].get("unschedulable")
        finally:
            api.close()
    finally:  # whatever happened above, leave the cluster as it was
        asyncio.run(cleanup(kube_options(kube_context, ns), run_id=run_id))


def test_in_cluster_agent_loads_the_cluster_ip_from_a_pod(kube_context: str) -> None:
    """The in-cluster load agent for real: a Job running the Locust image (the test bed's stand-in, built
    from this machine's Python and Locust), records streamed back through the pod log as they are made,
    t0 chosen by the agent, every request accounted for, the Job gone afterwards. The agent runs in a
    namespace that enforces Pod Security `restricted` (a root pod is refused there)."""
    from chaoskit.cluster.kube.api import ApiStatusError
    from chaoskit.load.plan import LoadPlan, LoadTarget

    ns, strict = unique_namespace("agent"), unique_namespace("agent-restricted")
    restricted = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": strict, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}}
    root_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": strict},
                "spec": {"containers": [{"name": "httpd", "image": "httpd:2.4"}]}}

    async def scenario() -> None:
        cluster = kube_cluster(kube_context, ns, namespaces=frozenset({ns, strict}))
        await cluster.start()
        try:
            await cluster.apply([restricted])
            with pytest.raises(ApiStatusError, match="restricted"):
                await cluster.apply([root_pod])
            await cluster.apply(web(ns))
            pods = await cluster.wait_pods_ready(ns, WEB, count=3, timeout_s=120)
            (address,) = await cluster.service_addresses(ns, "contract-web", ServiceKind.CLUSTER_IP)
            await cluster.wait_endpoints(ns, "contract-web", [p.ip or "" for p in pods], timeout_s=60)
            plan = LoadPlan(targets=(LoadTarget("contract-web", "ClusterIP", address.host, address.port),),
                            rate=50.0, duration_s=3.0, connection="keepalive", timeout_s=1.0)
            agent = cluster.in_cluster_agent(strict, plan, start_timeout_s=120)
            try:
                await agent.start()
                t0 = agent.t0_ns
                assert t0 is not None
                streamed = 0
                while time.time_ns() < t0 + 2_500_000_000:  # records arrive while the agent still loads
                    await asyncio.sleep(0.25)
                    streamed += len(agent.take_records())
                report = await agent.wait(timeout_s=60)
                rest = agent.take_records()
            finally:
                await agent.stop()
            assert streamed > 0, "no record reached us before the load ended"
            assert report.requests == streamed + len(rest) == 150
            assert report.exit_code == 0
            assert rest["ok"].all() and set(rest["service_type"]) == {"ClusterIP"}
            api = admin_api(kube_context)
            try:
                jobs = api.request("GET", f"/apis/batch/v1/namespaces/{strict}/jobs")["items"]
                maps = api.request("GET", f"/api/v1/namespaces/{strict}/configmaps",
                                   query=[("labelSelector", RUN_ID_LABEL)])["items"]
            finally:
                api.close()
            assert jobs == [] and maps == []  # removed after the run
        finally:
            await cluster.close()

    asyncio.run(scenario())
