"""The in-cluster load agent: a Job running chaoskit's locustfile in a pinned Locust image, with the
locustfile and plan in a ConfigMap and the request records streamed back through the pod log API.

The agent's records (binary) travel as ``CKR <base64>`` lines and its control messages as ``CKC <base64>``
lines on stdout; everything else in the log is Locust's own output. Unproven in CI (no image pulls here):
rendering and log decoding are unit-tested, the run itself is not.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from chaoskit.cluster.kube.api import KubeApi, iter_lines
from chaoskit.cluster.kube.config import AGENT_IMAGE, MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_ID_LABEL

if TYPE_CHECKING:
    from chaoskit.cluster.kube.cluster import KubeCluster

AGENT_NAME: Final = "chaoskit-load-agent"
MOUNT: Final = "/chaoskit"
RECORD_PREFIX: Final = "CKR "
CONTROL_PREFIX: Final = "CKC "
AGENT_MODULES: Final = ("plan.py", "schedule.py", "gclient.py", "records.py", "locustfile.py")
"""The stdlib+gevent modules the locustfile imports; shipped as ConfigMap keys."""

WRAPPER: Final = '''"""chaoskit in-cluster agent wrapper: run the locustfile, relay its pipes as base64 log lines."""
import base64, os, selectors, subprocess, sys
rec_r, rec_w = os.pipe()
ctl_r, ctl_w = os.pipe()
env = dict(os.environ, PYTHONPATH="/chaoskit", CHAOSKIT_LOAD_RECORDS_FD=str(rec_w),
           CHAOSKIT_LOAD_CONTROL_FD=str(ctl_w), CHAOSKIT_LOAD_PARENT_PID=str(os.getpid()))
proc = subprocess.Popen([sys.executable, "/chaoskit/chaoskit/load/locustfile.py"],
                        pass_fds=(rec_w, ctl_w), env=env, stdout=sys.stderr)
os.close(rec_w)
os.close(ctl_w)
sel = selectors.DefaultSelector()
sel.register(rec_r, selectors.EVENT_READ, "CKR ")
sel.register(ctl_r, selectors.EVENT_READ, "CKC ")
while sel.get_map():
    for key, _ in sel.select():
        data = os.read(key.fd, 65536)
        if not data:
            sel.unregister(key.fd)
            continue
        sys.stdout.write(key.data + base64.b64encode(data).decode() + "\\n")
        sys.stdout.flush()
sys.exit(proc.wait())
'''


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentJobSpec:
    """What one in-cluster agent run needs."""

    namespace: str
    run_id: str
    plan_json: str
    """``chaoskit.load.plan.LoadPlan.to_json()`` with ClusterIP targets."""
    deadline_s: int
    """activeDeadlineSeconds: the plan's duration + timeout + start slack; the Job is killed after."""
    image: str = AGENT_IMAGE
    cpu: str = "1"
    node_selector: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    """Override of the container command; empty = the wrapper. Tests use it to prove the log path
    without the Locust image."""


def _meta(name: str, spec: AgentJobSpec) -> dict[str, Any]:
    return {"name": name, "namespace": spec.namespace,
            "labels": {RUN_ID_LABEL: spec.run_id, MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                       "app.kubernetes.io/name": AGENT_NAME}}


def module_sources() -> dict[str, str]:
    """The locustfile and the modules it imports, read from the installed chaoskit package."""
    pkg = resources.files("chaoskit.load")
    return {name: (pkg / name).read_text(encoding="utf-8") for name in AGENT_MODULES}


def render(spec: AgentJobSpec, *, sources: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """ServiceAccount (no API rights, no token), ConfigMap (code + plan) and the Job, in apply order."""
    name = f"{AGENT_NAME}-{spec.run_id}"
    code = sources if sources is not None else module_sources()
    data = {"wrapper.py": WRAPPER, "plan.json": spec.plan_json, "empty.py": "", **code}
    items = [{"key": "wrapper.py", "path": "wrapper.py"},
             {"key": "empty.py", "path": "chaoskit/__init__.py"},
             {"key": "empty.py", "path": "chaoskit/load/__init__.py"}]
    items += [{"key": m, "path": f"chaoskit/load/{m}"} for m in AGENT_MODULES]
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(AGENT_NAME, spec),
               "automountServiceAccountToken": False}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name, spec), "data": data}
    container = {
        "name": "agent", "image": spec.image, "imagePullPolicy": "IfNotPresent",
        "command": list(spec.command) or ["python", f"{MOUNT}/wrapper.py"],
        "env": [{"name": "CHAOSKIT_LOAD_PLAN",
                 "valueFrom": {"configMapKeyRef": {"name": name, "key": "plan.json"}}}],
        "resources": {"requests": {"cpu": spec.cpu}, "limits": {"cpu": spec.cpu}},
        "volumeMounts": [{"name": "code", "mountPath": MOUNT, "readOnly": True}],
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never", "serviceAccountName": AGENT_NAME,
        "automountServiceAccountToken": False, "containers": [container],
        "volumes": [{"name": "code", "configMap": {"name": name, "items": items}}],
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(name, spec),
           "spec": {"backoffLimit": 0, "activeDeadlineSeconds": spec.deadline_s,
                    "ttlSecondsAfterFinished": 600,
                    "template": {"metadata": {"labels": _meta(name, spec)["labels"]},
                                 "spec": pod_spec}}}
    return [account, config_map, job]


@dataclass(frozen=True, slots=True)
class AgentLog:
    """The agent's pod log, split: record bytes (``records.RECORD`` wire form), control messages, rest."""

    records: bytes
    control: list[dict[str, Any]]
    other: list[str]


def split_log(lines: Iterable[str]) -> AgentLog:
    """Decode an agent log; a line cut short (pod killed mid-write) fails loudly, not silently."""
    records, control_bytes, other = bytearray(), bytearray(), []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.startswith(RECORD_PREFIX):
            records += base64.b64decode(line[len(RECORD_PREFIX):], validate=True)
        elif line.startswith(CONTROL_PREFIX):
            control_bytes += base64.b64decode(line[len(CONTROL_PREFIX):], validate=True)
        elif line:
            other.append(line)
    control = [json.loads(c) for c in control_bytes.decode().splitlines() if c.strip()]
    return AgentLog(bytes(records), control, other)


def job_pod_selector(spec: AgentJobSpec) -> dict[str, str]:
    return {"batch.kubernetes.io/job-name": f"{AGENT_NAME}-{spec.run_id}"}


def follow_log(api: KubeApi, namespace: str, pod: str, *, timeout_s: float) -> list[str]:
    """The agent container's whole log, followed until the container exits (bounded by ``timeout_s``)."""
    resp = api.open_stream(f"/api/v1/namespaces/{namespace}/pods/{pod}/log",
                           query=[("container", "agent"), ("follow", "true")],
                           read_timeout_s=timeout_s)
    try:
        return [line.decode("utf-8", "replace") for line in iter_lines(resp)]
    finally:
        resp.close()


async def run(cluster: KubeCluster, spec: AgentJobSpec, *, timeout_s: float) -> AgentLog:
    """Apply the agent's objects, wait (watching) for its pod to start, follow its log to the end,
    remove the objects (also on failure) and decode the log."""
    objects = render(spec)
    await cluster.apply(objects)
    api = cluster._require_api()
    if api.dry_run:
        return AgentLog(b"", [], [])
    try:
        watchers = cluster._require_watchers()
        selector = job_pod_selector(spec)

        def started() -> str | None:
            for pod in watchers.pods(spec.namespace):
                labels = pod.get("metadata", {}).get("labels") or {}
                if all(labels.get(k) == v for k, v in selector.items()):
                    if pod.get("status", {}).get("phase") != "Pending":
                        return str(pod["metadata"]["name"])  # even Failed: its log says why
                    watchers.raise_if_failing([pod])  # e.g. ImagePullBackOff: fail now
            return None

        pod = await cluster._wait_for(started, timeout_s=timeout_s,
                                      what=lambda: f"load agent pod of run {spec.run_id} never started")
        lines = await asyncio.to_thread(follow_log, api, spec.namespace, pod, timeout_s=timeout_s)
    finally:
        await cluster.remove(objects)
    return split_log(lines)
