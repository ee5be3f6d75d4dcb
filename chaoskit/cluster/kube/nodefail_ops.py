"""Node failure on a real cluster, driven: ``KubeCluster``'s ``NodeFailures`` methods live here (``NodeFailer``).

One node agent per failed node (``nodefail.py``): **armed** just before the fault instant (its pod created on
the node and Ready: it found the kubelet), **told to fail** at the instant (an exec sending it SIGUSR1 with the
node's container IDs), and **waited for** afterwards: it restores the node on its own timer, so ``restore_node``
cannot end a failure early (neither a stopped kubelet nor a partitioned one hears the API server); it waits
until the agent reported back (its pod finished: the kubelet talks to the API server again), reads the agent's
log into the run's notes, and deletes the pod. Blocking API calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from chaoskit.cluster.kube import nodefail
from chaoskit.cluster.kube.api import JsonObj, KubeApi, iter_lines
from chaoskit.cluster.kube.apply import ObjectRef, apply_object, wait_gone
from chaoskit.cluster.kube.config import AGENT_NAME as LOAD_AGENT_NAME
from chaoskit.cluster.kube.config import MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAME_LABEL, KubeOptions
from chaoskit.cluster.kube.errors import ApiForbiddenError
from chaoskit.cluster.kube.execs import check_ran, run_exec
from chaoskit.cluster.kube.watchers import failing_reason
from chaoskit.cluster.protocol import (
    ClusterError,
    NodeFailureMode,
    NotFoundError,
    UnsafeTargetError,
    WaitTimeout,
)

START_TIMEOUT_S: Final = 120.0
"""Agent pod created -> Ready (the image may have to be pulled on a real cluster)."""
REPORT_BACK_S: Final = 180.0
"""After the agent's timer ran out: until its pod is seen finished. A partitioned kubelet reconnects only after
its HTTP/2 health check gives the old connection up (30 s + 15 s) and TCP's back-off lets a new one through."""
GO_TIMEOUT_S: Final = 15.0
REMOVE_TIMEOUT_S: Final = 60.0
PREFLIGHT_NODE: Final = "chaoskit-preflight"


@dataclass
class Agent:
    """One node's agent, from arming to its report."""

    spec: nodefail.AgentSpec
    uid: str = ""
    told_ns: int | None = None
    """chaoskit's clock when the go signal was sent (the fault instant, give or take the exec's latency)."""
    told_mono: float | None = None


class NodeFailer:
    """Arms, triggers and awaits node agents for one ``KubeCluster``; ``close`` brings back what it failed."""

    def __init__(self, api: KubeApi, options: KubeOptions, *, notes: list[str],
                 journal: Callable[[ObjectRef], None], allow: Callable[[str], None]) -> None:
        self._api = api
        self._options = options
        self._notes = notes
        self._journal = journal
        self._allow = allow
        self._agents: dict[str, Agent] = {}
        self._serial = itertools.count(1)
        self._namespace_ready = False

    @property
    def namespace(self) -> str:
        return self._options.node_agent_namespace

    # -- what must never fail ----------------------------------------------------------------------
    async def protected_nodes(self) -> dict[str, str]:
        return await asyncio.to_thread(self._protected_nodes)

    def _protected_nodes(self) -> dict[str, str]:
        nodes = self._api.request("GET", "/api/v1/nodes").get("items", [])
        local = [a for a in nodefail.address_literals(nodes) if is_local_address(a)]
        selector = f"{NAME_LABEL}={LOAD_AGENT_NAME},{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
        agents = self._api.request("GET", "/api/v1/pods", query=[("labelSelector", selector)]).get("items", [])
        agent_nodes = sorted({str(p["spec"]["nodeName"]) for p in agents if (p.get("spec") or {}).get("nodeName")
                              and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")})
        return nodefail.protected(nodes, local_addresses=local, own_node=self._own_node(),
                                  load_agent_nodes=agent_nodes)

    def _own_node(self) -> str | None:
        """The node of the pod chaoskit runs in: ``CHAOSKIT_NODE_NAME`` (downward API), else the pod that has the
        address this process talks to the API server from (none when chaoskit runs outside the cluster)."""
        named = os.environ.get("CHAOSKIT_NODE_NAME")
        if named or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return named or None
        source = source_address(str(self._api.configuration.host))
        if not source:
            return None
        pods = self._api.request("GET", "/api/v1/pods", query=[("fieldSelector", f"status.podIP={source}")])
        nodes = [p["spec"].get("nodeName") for p in pods.get("items", []) if not p["spec"].get("hostNetwork")]
        return str(nodes[0]) if nodes else None

    # -- before anything is applied ----------------------------------------------------------------
    async def check(self) -> None:
        """Refuse (UnsafeTargetError) when this identity may not start a node agent: RBAC or Pod Security
        admission. A server-side dry run of the agent pod, or of its namespace while it does not exist."""
        await asyncio.to_thread(self._check)

    def _check(self) -> None:
        try:
            if self._namespace_exists():
                spec = self._spec(PREFLIGHT_NODE, "stop", 1.0, name=f"{nodefail.AGENT_NAME}-preflight")
                self._api.request("POST", f"/api/v1/namespaces/{self.namespace}/pods",
                                  body=nodefail.render_pod(spec), server_dry_run=True)
            else:
                self._api.request("POST", "/api/v1/namespaces", server_dry_run=True,
                                  body=nodefail.render_namespace(self.namespace, run_id=self._options.run_id))
        except ApiForbiddenError as exc:
            raise UnsafeTargetError(
                f"node-failure: chaoskit may not start its node agent (a privileged pod) in namespace "
                f"{self.namespace}: {exc}",
                hint="grant the Role chaoskit-node-agent there (manifests/rbac.yaml) and let Pod Security admission "
                     "allow privileged pods: label it pod-security.kubernetes.io/enforce=privileged "
                     "(docs/rbac.md)") from exc

    def _namespace_exists(self) -> bool:
        try:
            found = self._api.request("GET", f"/api/v1/namespaces/{self.namespace}")
        except NotFoundError:
            return False
        return not found.get("metadata", {}).get("deletionTimestamp")

    # -- arm, fail, restore ------------------------------------------------------------------------
    async def arm(self, node: str, *, mode: NodeFailureMode, duration_s: float) -> None:
        """Start the node's agent and wait until it is Ready (it found the kubelet): from then on, ``fail`` takes
        effect within a fraction of a second."""
        if node in self._agents:
            raise ClusterError(f"node {node} already has a node agent (failed, or armed to fail)",
                               hint="a node fails once at a time: space the firings further apart than duration")
        protected = await self.protected_nodes()
        if node in protected:
            raise UnsafeTargetError(f"node-failure: node {node} {protected[node]}", hint="fail another node")
        endpoints = await asyncio.to_thread(self._api_endpoints) if mode == "partition" else []
        spec = self._spec(node, mode, duration_s, name=f"{nodefail.AGENT_NAME}-{self._options.run_id}-"
                                                          f"{next(self._serial)}", endpoints=endpoints)
        agent = Agent(spec)
        self._agents[node] = agent
        await asyncio.to_thread(self._start, agent)

    def _spec(self, node: str, mode: NodeFailureMode, duration_s: float, *, name: str,
              endpoints: list[str] | None = None) -> nodefail.AgentSpec:
        return nodefail.AgentSpec(node=node, mode=mode, duration_s=duration_s, namespace=self.namespace, name=name,
                                  run_id=self._options.run_id, image=self._options.node_agent_image,
                                  api_endpoints=tuple(endpoints or ()), armed_at_s=time.time())

    def _api_endpoints(self) -> list[str]:
        slices = self._api.request(
            "GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
            query=[("labelSelector", "kubernetes.io/service-name=kubernetes")]).get("items", [])
        found = nodefail.api_endpoints(slices)
        if not found:
            raise ClusterError("node-failure partition: the kubernetes Service has no ready endpoints",
                               hint="the partition cuts the node from the API server's advertised addresses")
        return found

    def _start(self, agent: Agent) -> None:
        self._ensure_namespace()
        spec = agent.spec
        created = self._api.request("POST", f"/api/v1/namespaces/{spec.namespace}/pods",
                                    body=nodefail.render_pod(replace(spec, armed_at_s=time.time())))
        agent.uid = str(created.get("metadata", {}).get("uid", ""))
        if self._api.dry_run:
            return

        def ready(pod: JsonObj | None) -> bool:
            if pod is None:
                raise ClusterError(f"node agent {spec.name} was deleted before it was ready")
            reason = failing_reason(pod)
            if reason is None and finished(pod):
                reason = "it ended before it was told to fail"
            if reason is not None:
                raise ClusterError(f"node agent {spec.namespace}/{spec.name} on {spec.node}: {reason}; "
                                   f"its log: {self._log_lines(spec)}",
                                   hint="--node-agent-image must be a busybox (sh, grep, nsenter) the node can pull")
            conditions = pod.get("status", {}).get("conditions") or []
            return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

        watch_pod(self._api, spec.namespace, spec.name, ready, timeout_s=START_TIMEOUT_S)

    def _ensure_namespace(self) -> None:
        if self._namespace_ready:
            return
        self._allow(self.namespace)
        if not self._namespace_exists():
            obj = nodefail.render_namespace(self.namespace, run_id=self._options.run_id)
            if apply_object(self._api, obj):
                self._journal(ObjectRef("v1", "Namespace", "", self.namespace))
        self._namespace_ready = True

    async def fail(self, node: str, *, mode: NodeFailureMode, duration_s: float) -> None:
        """Tell the node's agent (armed now if it is not yet) to fail the node."""
        if node not in self._agents:
            await self.arm(node, mode=mode, duration_s=duration_s)
        agent = self._agents[node]
        await asyncio.to_thread(self._go, agent)

    def _go(self, agent: Agent) -> None:
        spec = agent.spec
        ids: list[str] = []
        if spec.mode == "stop":
            pods = self._api.request("GET", "/api/v1/pods", query=[("fieldSelector", f"spec.nodeName={spec.node}")])
            ids = nodefail.running_container_ids(pods.get("items", []), skip_uid=agent.uid)
        # Counted as told from here: an exec that breaks off may still have delivered the signal.
        agent.told_ns, agent.told_mono = time.time_ns(), time.monotonic()
        result = run_exec(self._api, spec.namespace, spec.name, "agent", nodefail.go_command(ids),
                          timeout_s=GO_TIMEOUT_S)
        if result.exit_code != 0:  # the command ran and refused (or never ran): the agent did nothing
            agent.told_ns = agent.told_mono = None
            check_ran(result, what=f"node agent {spec.name}")
            raise ClusterError(f"node agent {spec.name} on {spec.node} was not armed: {result.stderr.strip()}")

    async def restore(self, node: str) -> None:
        """Wait for the node's agent to bring the node back (its own timer: no early end) and remove it."""
        agent = self._agents.get(node)
        if agent is None:
            return
        try:
            await asyncio.to_thread(self._await_agent, agent)
        except BaseException:
            # Still failing, or cancelled: the delete reaches the agent (SIGTERM: it restores) once its node is back.
            del self._agents[node]
            with contextlib.suppress(ClusterError):
                await asyncio.to_thread(self._remove, agent.spec, wait=False)
            raise
        del self._agents[node]
        await asyncio.to_thread(self._remove, agent.spec)

    def _await_agent(self, agent: Agent) -> None:
        spec = agent.spec
        if agent.told_mono is None or self._api.dry_run:
            return  # armed, never told: it has done nothing; removing it is all
        left = agent.told_mono + spec.settle_s + spec.duration_s - time.monotonic()
        try:
            pod = watch_pod(self._api, spec.namespace, spec.name, finished, timeout_s=max(0.0, left) + REPORT_BACK_S)
        except WaitTimeout as exc:
            raise ClusterError(
                f"node {spec.node}: its node agent has not reported back {REPORT_BACK_S:g}s after the failure's end",
                hint=f"it restores the node by itself (by {spec.restores_by} at the latest) if it still runs; "
                     "`chaoskit cleanup --backend kube` removes it once its node is back") from exc
        log = nodefail.parse_log(self._log_text(spec))
        self._notes.append(describe(spec, log, told_ns=agent.told_ns or 0))
        phase = (pod or {}).get("status", {}).get("phase")
        if log.errors or (pod is not None and phase != "Succeeded") or log.restored_s is None:
            raise ClusterError(f"node agent {spec.name} on {spec.node} ended {phase or 'deleted'}: "
                               f"{'; '.join(log.errors) or 'no restore in its log'}",
                               hint="look at the node: `kill -CONT` of its kubelet, or the iptables chain "
                                    f"{nodefail.CHAIN} (docs/kube.md, node failure)")

    def _log_text(self, spec: nodefail.AgentSpec) -> str:
        try:
            resp = self._api.open_stream(f"/api/v1/namespaces/{spec.namespace}/pods/{spec.name}/log",
                                         query=[("container", "agent")], read_timeout_s=30.0)
        except ClusterError as exc:
            return f"(log unavailable: {exc})"
        try:
            return "\n".join(line.decode(errors="replace") for line in iter_lines(resp))
        finally:
            resp.close()

    def _log_lines(self, spec: nodefail.AgentSpec) -> str:
        lines = nodefail.parse_log(self._log_text(spec)).lines
        return " | ".join(lines[-3:]) or "(empty)"

    def _remove(self, spec: nodefail.AgentSpec, *, wait: bool = True) -> None:
        path = f"/api/v1/namespaces/{spec.namespace}/pods/{spec.name}"
        with contextlib.suppress(NotFoundError):
            self._api.request("DELETE", path)
        if wait:
                wait_gone(self._api, ObjectRef("v1", "Pod", spec.namespace, spec.name), timeout_s=REMOVE_TIMEOUT_S)

    async def close(self) -> list[str]:
        """Bring back every node this run failed (waiting for its agent) and remove every agent; the errors."""
        errors = []
        for node in list(self._agents):
            try:
                await self.restore(node)
            except ClusterError as exc:
                errors.append(f"node {node}: {exc}")
        return errors


def finished(pod: JsonObj | None) -> bool:
    return pod is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def describe(spec: nodefail.AgentSpec, log: nodefail.AgentLog, *, told_ns: int) -> str:
    """One line for the run's notes: when the failure was in effect, on the agent's (the node's) clock."""
    told = told_ns / 1e9
    if log.failed_s is None:
        return f"node-failure {spec.mode} of {spec.node}: the agent never failed the node ({'; '.join(log.errors)})"
    end = f"{log.restored_s - told:.2f}s" if log.restored_s is not None else "never (no restore in its log)"
    return (f"node-failure {spec.mode} of {spec.node}: in effect from {log.failed_s - told:.2f}s to {end} after "
            f"the go signal (node agent {spec.namespace}/{spec.name}, its node's clock)")


def watch_pod(api: KubeApi, namespace: str, name: str, done: Callable[[JsonObj | None], bool], *,
              timeout_s: float) -> JsonObj | None:
    """Watch one pod until ``done(pod)`` (``None``: it was deleted); the last state. WaitTimeout after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    collection = f"/api/v1/namespaces/{namespace}/pods"
    selector = ("fieldSelector", f"metadata.name={name}")
    while (remaining := deadline - time.monotonic()) > 0:
        listing = api.request("GET", collection, query=[selector])
        items = listing.get("items") or []
        current = items[0] if items else None
        if done(current):
            return current
        rv = str(listing.get("metadata", {}).get("resourceVersion", ""))
        query = [selector, ("watch", "true"), ("resourceVersion", rv),
                 ("timeoutSeconds", str(max(1, int(min(remaining, 60)))))]
        resp = api.open_stream(collection, query=query, read_timeout_s=min(remaining, 60) + 5)
        try:
            for line in iter_lines(resp):
                event: Any = json.loads(line) if line.strip() else {}
                obj = None if event.get("type") == "DELETED" else event.get("object")
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED") and done(obj):
                    return obj
        except Exception:  # noqa: S112 - a cut stream (urllib3 errors of several kinds): list again, bounded
            continue
        finally:
            resp.close()
    raise WaitTimeout(f"pod {namespace}/{name} did not reach the awaited state in {timeout_s:g}s")


def is_local_address(address: str) -> bool:
    """Whether this host has ``address`` (binding to it works only then)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def source_address(server: str) -> str:
    """The local address this host talks to ``server`` (an API server URL) from; "" if unknown."""
    parsed = urllib.parse.urlsplit(server)
    if not parsed.hostname:
        return ""
    try:
        with socket.socket(socket.AF_INET6 if ":" in parsed.hostname else socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((parsed.hostname, parsed.port or 443))  # UDP: picks a route, sends nothing
            return str(sock.getsockname()[0])
    except OSError:
        return ""
