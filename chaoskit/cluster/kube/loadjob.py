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

MOUNT: Final = "/chaoskit"
RECORD_PREFIX: Final = "CKR "
CONTROL_PREFIX: Final = "CKC "
CONFIG_MAP_LIMIT: Final = 1_000_000
"""A ConfigMap's data is capped at 1 MiB by the API server; a little is kept for metadata."""
AGENT_UID: Final = 1000
"""The Locust image's ``locust`` user."""
AGENT_MODULES: Final = ("plan.py", "shape.py", "schedule.py", "gclient.py", "gtcp.py", "records.py", "lags.py",
                         "roles.py", "gdist.py", "locustfile.py")
"""The stdlib+gevent modules the locustfile imports; shipped as ConfigMap keys."""

WRAPPER: Final = '''"""chaoskit in-cluster agent wrapper: run the locustfile, relay its pipes as base64 log lines."""
import base64, json, os, selectors, signal, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
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
def emit(prefix, data):
    sys.stdout.write(prefix + base64.b64encode(data).decode() + "\\n")
    sys.stdout.flush()
while sel.get_map():
    for key, _ in sel.select():
        data = os.read(key.fd, 65536)
        if not data:
            sel.unregister(key.fd)
            continue
        emit(key.data, data)
code = proc.wait()
emit("CKC ", (json.dumps({"event": "exit", "code": code}) + "\\n").encode())
sys.exit(1 if code else 0)
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
    """Override of the container command; empty = the wrapper."""


def _meta(name: str, spec: AgentJobSpec) -> dict[str, Any]:
    return {"name": name, "namespace": spec.namespace,
            "labels": {RUN_ID_LABEL: spec.run_id, MANAGED_BY_LABEL: MANAGED_BY_VALUE,
                       NAME_LABEL: AGENT_NAME}}


def module_sources() -> dict[str, str]:
    """The locustfile and the modules it imports, read from the installed chaoskit package."""
    pkg = resources.files("chaoskit.load")
    return {name: (pkg / name).read_text(encoding="utf-8") for name in AGENT_MODULES}


def render(spec: AgentJobSpec, *, sources: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """ServiceAccount (no API rights, no token), ConfigMap (code + plan) and the Job, in apply order."""
    name = f"{AGENT_NAME}-{spec.run_id}"
    code = sources if sources is not None else module_sources()
    data = {"wrapper.py": WRAPPER, "plan.json": spec.plan_json, "empty.py": "", **code}
    size = sum(len(k) + len(v.encode()) for k, v in data.items())
    if size > CONFIG_MAP_LIMIT:
        raise ClusterError(
            f"the in-cluster load agent's ConfigMap would hold {size:,} bytes; the API server takes at most 1 MiB",
            hint="request bodies and CA files travel in it once per Service: make them smaller, or load fewer "
                 "Services from inside the cluster")
    # The plan is a file, not an environment variable: one variable is capped at 128 KiB by the kernel,
    # and request bodies and CA bundles travel in the plan.
    items = [{"key": "wrapper.py", "path": "wrapper.py"}, {"key": "plan.json", "path": "plan.json"},
             {"key": "empty.py", "path": "chaoskit/__init__.py"},
             {"key": "empty.py", "path": "chaoskit/load/__init__.py"}]
    items += [{"key": m, "path": f"chaoskit/load/{m}"} for m in AGENT_MODULES]
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(AGENT_NAME, spec),
               "automountServiceAccountToken": False}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name, spec), "data": data}
    container = {
        "name": "agent", "image": spec.image, "imagePullPolicy": "IfNotPresent",
        "command": list(spec.command) or ["python", f"{MOUNT}/wrapper.py"],
        "resources": {"requests": {"cpu": spec.cpu}, "limits": {"cpu": spec.cpu}},
        "volumeMounts": [{"name": "code", "mountPath": MOUNT, "readOnly": True}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never", "serviceAccountName": AGENT_NAME, "terminationGracePeriodSeconds": 10,
        "automountServiceAccountToken": False, "containers": [container],
        # Pod Security "restricted": the Locust image's user `locust` is uid 1000; a numeric uid lets the
        # kubelet verify runAsNonRoot (it cannot for a user name).
        "securityContext": {"runAsNonRoot": True, "runAsUser": AGENT_UID, "runAsGroup": AGENT_UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
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
    return {"batch.kubernetes.io/job-name": f"{AGENT_NAME}-{run_id}"}
