"""Fault actions on a real cluster (blocking API calls) and the pure checks the waits use.

Container kill: the exec API runs ``kill -s TERM 1`` in the named container. The kernel delivers a
signal to a PID namespace's init (PID 1) from inside that namespace only if init installed a handler for
it (SIGKILL never), so this stops images whose main process handles SIGTERM (Apache httpd, nginx, most
servers and tini/dumb-init) and fails — detected, reported, never silently — for ones that do not. It needs
a shell in the container, and is refused with ``shareProcessNamespace`` (PID 1 is then the pod's pause
process, and killing it would restart the whole pod).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from chaoskit.cluster.kube.api import ApiStatusError, JsonObj, KubeApi
from chaoskit.cluster.kube.config import AGENT_NAME, CORDONED_BY_ANNOTATION, NAME_LABEL
from chaoskit.cluster.kube.execs import NO_SHELL_SIGNS, ExecResult, check_ran, run_exec
from chaoskit.cluster.kube.translate import Obj, is_mirror_or_daemon
from chaoskit.cluster.protocol import ClusterError, NotFoundError

KILL_COMMAND = ["sh", "-c", "kill -s TERM 1"]


def delete_pod(api: KubeApi, namespace: str, name: str, *, grace_seconds: float | None) -> None:
    """Delete a pod; ``grace_seconds`` 0 is a force delete (gone from the API at once)."""
    body: JsonObj = {}
    if grace_seconds is not None:
        # The API takes whole seconds; round up so a grace period is never shortened.
        body["gracePeriodSeconds"] = max(0, math.ceil(grace_seconds))
    api.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", body=body)


def cordon(api: KubeApi, node: str, *, run_id: str) -> bool:
    """Mark ``node`` unschedulable; returns False (and changes nothing) when it already was."""
    current = api.request("GET", f"/api/v1/nodes/{node}")
    if current.get("spec", {}).get("unschedulable"):
        return False
    patch = {"spec": {"unschedulable": True},
             "metadata": {"annotations": {CORDONED_BY_ANNOTATION: run_id}}}
    api.request("PATCH", f"/api/v1/nodes/{node}", body=patch,
                content_type="application/merge-patch+json")
    return True


def uncordon(api: KubeApi, node: str) -> None:
    patch = {"spec": {"unschedulable": None}, "metadata": {"annotations": {CORDONED_BY_ANNOTATION: None}}}
    api.request("PATCH", f"/api/v1/nodes/{node}", body=patch,
                content_type="application/merge-patch+json")


def evictable(pods: Iterable[Obj], *, namespaces: frozenset[str] | None) -> tuple[list[Obj], list[Obj]]:
    """(to evict, skipped): DaemonSet and mirror pods, finished or terminating pods and pods outside
    ``namespaces`` (None = all) are skipped, as ``kubectl drain --ignore-daemonsets`` would; so is
    chaoskit's own in-cluster load agent (the measurement, not the system under test)."""
    evict, skip = [], []
    for pod in pods:
        meta = pod.get("metadata", {})
        done = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
        outside = namespaces is not None and meta.get("namespace") not in namespaces
        agent = (meta.get("labels") or {}).get(NAME_LABEL) == AGENT_NAME
        if is_mirror_or_daemon(pod) or done or meta.get("deletionTimestamp") or outside or agent:
            skip.append(pod)
        else:
            evict.append(pod)
    return evict, skip


def evict(api: KubeApi, namespace: str, name: str, *, grace_seconds: float | None) -> str | None:
    """Ask the Eviction API to remove a pod: None when it goes (or is gone), else the API's reason for
    refusing it for now (429: a PodDisruptionBudget would be broken)."""
    body: JsonObj = {"apiVersion": "policy/v1", "kind": "Eviction",
                     "metadata": {"name": name, "namespace": namespace}}
    if grace_seconds is not None:
        body["deleteOptions"] = {"gracePeriodSeconds": max(0, math.ceil(grace_seconds))}
    try:
        api.request("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/eviction", body=body)
    except NotFoundError:
        return None  # already gone: nothing left to evict
    except ApiStatusError as exc:
        if exc.status == 429:
            return str(exc) or "429 Too Many Requests"
        raise
    return None


def container_status(pod: Obj, container: str) -> Obj | None:
    for st in pod.get("status", {}).get("containerStatuses") or []:
        if st.get("name") == container:
            return dict(st)
    return None


def check_killable(pod: Obj, container: str) -> Obj:
    """The container's status before the kill; refuses what this method cannot do faithfully."""
    name = pod.get("metadata", {}).get("name")
    if pod.get("spec", {}).get("shareProcessNamespace"):
        raise ClusterError(f"pod {name} shares its process namespace: PID 1 is the pause process",
                           hint="use delete_pod, or a pod without shareProcessNamespace")
    status = container_status(pod, container)
    if status is None:
        names = [c.get("name") for c in pod.get("spec", {}).get("containers") or []]
        raise NotFoundError(f"pod {name} has no container {container!r} (has {names})")
    return status


def died_since(before: Obj, now: Obj | None, container: str) -> bool:
    """Whether the container in pod ``now`` is no longer the process that ran in pod ``before``."""
    if now is None or now.get("metadata", {}).get("uid") != before.get("metadata", {}).get("uid"):
        return True
    was = container_status(before, container) or {}
    cur = container_status(now, container)
    if cur is None:
        return False
    if int(cur.get("restartCount", 0)) > int(was.get("restartCount", 0)):
        return True
    running = (cur.get("state") or {}).get("running")
    started = ((was.get("state") or {}).get("running") or {}).get("startedAt")
    return running is None or running.get("startedAt") != started


def send_kill(api: KubeApi, namespace: str, pod: str, container: str, *, timeout_s: float) -> ExecResult:
    """Signal PID 1 of the container. Only a missing shell is an error here: a dying container often
    cuts the exec stream short, so whether the kill worked is decided by watching the container."""
    result = run_exec(api, namespace, pod, container, KILL_COMMAND, timeout_s=timeout_s)
    if result.exit_code is None and any(s in result.error.lower() for s in NO_SHELL_SIGNS):
        check_ran(result, what=f"kill in {namespace}/{pod}/{container}")
    return result


def summarize(pods: Sequence[Obj]) -> str:
    return ", ".join(f"{p['metadata'].get('namespace')}/{p['metadata'].get('name')}" for p in pods)
