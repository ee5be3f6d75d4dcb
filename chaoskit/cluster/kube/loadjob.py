"""The in-cluster load agent's objects and log format: a Job running chaoskit's locustfile in a pinned
Locust image, with the locustfile and plan in a ConfigMap and the request records streamed back through
the pod log API (``chaoskit.cluster.kube.incluster`` drives it).

The agent's records (binary) travel as ``CKR <base64>`` lines and its control messages as ``CKC <base64>``
lines on stdout; everything else in the log is Locust's own output. The wrapper forwards SIGTERM to the
locustfile (PID 1 ignores signals it has no handler for) and ends with a ``CKC`` ``exit`` message.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

from chaoskit.cluster.kube.config import (
    AGENT_IMAGE,
    AGENT_NAME,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    NAME_LABEL,
    RUN_ID_LABEL,
)
from chaoskit.cluster.protocol import ClusterError
from chaoskit.load import roles

MOUNT: Final = "/chaoskit"
RECORD_PREFIX: Final = "CKR "
CONTROL_PREFIX: Final = "CKC "
ROLE_LABEL: Final = "chaoskit.io/load-role"
"""On the distributed mode's pods: ``master`` or ``worker``."""
CONFIG_MAP_LIMIT: Final = 1_000_000
"""A ConfigMap's data is capped at 1 MiB by the API server; a little is kept for metadata."""
AGENT_UID: Final = 1000
"""The Locust image's ``locust`` user."""
AGENT_MODULES: Final = ("plan.py", "shape.py", "schedule.py", "gclient.py", "gtcp.py", "records.py", "lags.py",
                         "roles.py", "gdist.py", "locustfile.py")
"""The stdlib+gevent modules the locustfile imports; shipped as ConfigMap keys."""

WRAPPER: Final = '''"""chaoskit in-cluster agent wrapper: run the locustfile, relay its pipes as base64 log lines."""
import base64, importlib.util, json, os, selectors, signal, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
def emit(prefix, data):
    sys.stdout.write(prefix + base64.b64encode(data).decode() + "\\n")
    sys.stdout.flush()
def control(message):
    emit("CKC ", (json.dumps(message) + "\\n").encode())
if importlib.util.find_spec("locust") is None:  # the image cannot run the agent: say so, plainly
    control({"event": "no-locust", "python": sys.version.split()[0], "executable": sys.executable})
    control({"event": "exit", "code": 3})
    sys.exit(3)
rec_r, rec_w = os.pipe()
ctl_r, ctl_w = os.pipe()
env = dict(os.environ, PYTHONPATH=here, CHAOSKIT_LOAD_PLAN_FILE=os.path.join(here, "plan.json"),
           CHAOSKIT_LOAD_RECORDS_FD=str(rec_w), CHAOSKIT_LOAD_CONTROL_FD=str(ctl_w),
           CHAOSKIT_LOAD_PARENT_PID=str(os.getpid()))
proc = subprocess.Popen([sys.executable, os.path.join(here, "chaoskit", "load", "locustfile.py")],
                        pass_fds=(rec_w, ctl_w), env=env, stdout=sys.stderr)
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda signum, _frame: proc.send_signal(signum))
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
        emit(key.data, data)
code = proc.wait()
control({"event": "exit", "code": code})
sys.exit(1 if code else 0)
'''


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentJobSpec:
    """What one in-cluster agent Job needs (one per agent; distributed: a master Job and one Job per worker)."""

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
    """Override of the container command; empty = the wrapper."""
    role: str = "single"
    """``single`` (the whole plan), or Locust's distributed ``master`` / ``worker``."""
    master_host: str = ""
    """worker: the master pod's IP (known once it runs, so the worker Jobs are applied after it)."""
    index: int = 0
    """worker: the Job's number, for its name only (Locust's master assigns the shares)."""
    start_timeout_s: float = 60.0
    """master: how long it waits for its workers; worker: for the master's start message."""


def job_name(spec: AgentJobSpec) -> str:
    base = f"{AGENT_NAME}-{spec.run_id}"
    return {"single": base, "master": f"{base}-master"}.get(spec.role, f"{base}-w{spec.index}")


def _meta(name: str, spec: AgentJobSpec) -> dict[str, Any]:
    return {"name": name, "namespace": spec.namespace,
            "labels": {RUN_ID_LABEL: spec.run_id, MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                       NAME_LABEL: AGENT_NAME}}


def module_sources() -> dict[str, str]:
    """The locustfile and the modules it imports, read from the installed chaoskit package."""
    pkg = resources.files("chaoskit.load")
    return {name: (pkg / name).read_text(encoding="utf-8") for name in AGENT_MODULES}


def render(spec: AgentJobSpec, *, sources: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """ServiceAccount (no API rights, no token), ConfigMap (code + plan) and the Job (single, or the
    distributed mode's master), in apply order."""
    code = sources if sources is not None else module_sources()
    data = {"wrapper.py": WRAPPER, "plan.json": spec.plan_json, "empty.py": "", **code}
    size = sum(len(k) + len(v.encode()) for k, v in data.items())
    if size > CONFIG_MAP_LIMIT:
        raise ClusterError(
            f"the in-cluster load agent's ConfigMap would hold {size:,} bytes; the API server takes at most 1 MiB",
            hint="request bodies and CA files travel in it once per Service: make them smaller, or load fewer "
                 "Services from inside the cluster")
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(AGENT_NAME, spec),
               "automountServiceAccountToken": False}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{AGENT_NAME}-{spec.run_id}", spec),
                  "data": data}
    return [account, config_map, render_job(spec)]


def _environment(spec: AgentJobSpec) -> list[dict[str, str]]:
    env = {roles.ROLE: spec.role, roles.START_TIMEOUT: f"{spec.start_timeout_s:g}"}
    if spec.role == "master":
        env[roles.MASTER_BIND] = f"0.0.0.0:{roles.MASTER_PORT_DEFAULT}"
    elif spec.role == "worker":
        env |= {roles.MASTER_HOST: spec.master_host, roles.MASTER_PORT: str(roles.MASTER_PORT_DEFAULT)}
    return [{"name": k, "value": v} for k, v in env.items()] if spec.role != "single" else []


def render_job(spec: AgentJobSpec) -> dict[str, Any]:
    """The Job of one agent process (its ConfigMap comes from ``render``)."""
    # The plan is a file, not an environment variable: one variable is capped at 128 KiB by the kernel,
    # and request bodies and CA bundles travel in the plan.
    items = [{"key": "wrapper.py", "path": "wrapper.py"}, {"key": "plan.json", "path": "plan.json"},
             {"key": "empty.py", "path": "chaoskit/__init__.py"},
             {"key": "empty.py", "path": "chaoskit/load/__init__.py"}]
    items += [{"key": m, "path": f"chaoskit/load/{m}"} for m in AGENT_MODULES]
    # The master only coordinates (clock pings, heartbeats): a fraction of a core.
    cpu = {"requests": {"cpu": "100m"}, "limits": {"cpu": "500m"}} if spec.role == "master" else {
        "requests": {"cpu": spec.cpu}, "limits": {"cpu": spec.cpu}}
    container: dict[str, Any] = {
        "name": "agent", "image": spec.image, "imagePullPolicy": "IfNotPresent",
        "command": list(spec.command) or ["python", f"{MOUNT}/wrapper.py"],
        "resources": cpu,
        "volumeMounts": [{"name": "code", "mountPath": MOUNT, "readOnly": True}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if env := _environment(spec):
        container["env"] = env
    if spec.role == "master":
        container["ports"] = [{"name": "locust-master", "containerPort": roles.MASTER_PORT_DEFAULT}]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never", "serviceAccountName": AGENT_NAME, "terminationGracePeriodSeconds": 10,
        "automountServiceAccountToken": False, "containers": [container],
        # Pod Security "restricted": the Locust image's user `locust` is uid 1000; a numeric uid lets the
        # kubelet verify runAsNonRoot (it cannot for a user name).
        "securityContext": {"runAsNonRoot": True, "runAsUser": AGENT_UID, "runAsGroup": AGENT_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "code", "configMap": {"name": f"{AGENT_NAME}-{spec.run_id}", "items": items}}],
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    labels = {**_meta("", spec)["labels"], **({ROLE_LABEL: spec.role} if spec.role != "single" else {})}
    # backoffLimit 0 and one Job per process: a failed agent is never replaced (its share is not re-run
    # behind our back), and one worker's failure does not make the Job controller stop the others.
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {**_meta(job_name(spec), spec), "labels": labels},
            "spec": {"backoffLimit": 0, "activeDeadlineSeconds": spec.deadline_s,
                     "ttlSecondsAfterFinished": 600,
                     "template": {"metadata": {"labels": labels}, "spec": pod_spec}}}


class LogDecoder:
    """Splits the agent's pod log, line by line as it arrives: record bytes (``records.RECORD`` wire
    form), control messages (JSON) and everything else (Locust's output, kept for error messages)."""

    def __init__(self) -> None:
        self.records = bytearray()
        self.control: list[dict[str, Any]] = []
        self.other: list[str] = []
        self._control_bytes = bytearray()

    def feed(self, raw: str) -> None:
        """One log line; a line cut short (pod killed mid-write) fails loudly, not silently."""
        line = raw.rstrip("\r\n")
        if line.startswith(RECORD_PREFIX):
            self.records += base64.b64decode(line[len(RECORD_PREFIX):], validate=True)
        elif line.startswith(CONTROL_PREFIX):
            self._control_bytes += base64.b64decode(line[len(CONTROL_PREFIX):], validate=True)
            while (end := self._control_bytes.find(b"\n")) >= 0:
                text = bytes(self._control_bytes[:end]).decode()
                del self._control_bytes[:end + 1]
                if text.strip():
                    self.control.append(json.loads(text))
        elif line:
            self.other.append(line)


def split_log(lines: Iterable[str]) -> LogDecoder:
    """A whole agent log, decoded."""
    decoder = LogDecoder()
    for line in lines:
        decoder.feed(line)
    return decoder


def job_pod_selector(run_id: str) -> dict[str, str]:
    """The single agent's pod."""
    return {"batch.kubernetes.io/job-name": f"{AGENT_NAME}-{run_id}"}


def role_pod_selector(run_id: str, role: str) -> dict[str, str]:
    """The distributed mode's master pod, or its worker pods."""
    return {RUN_ID_LABEL: run_id, ROLE_LABEL: role}
