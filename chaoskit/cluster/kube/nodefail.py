"""Node failure on a real cluster, the pure part: the node agent's script and pod, and what its log says.

A node fails through a **node agent**: a privileged pod chaoskit starts on the node (``nodeName``, every taint
tolerated) in a namespace of its own (``chaoskit-system``), with ``hostPID`` and ``hostNetwork``. It runs a
busybox shell script that

1. finds the node's kubelet: the process named ``kubelet`` in the agent's own network namespace (with
   ``hostNetwork`` that is the node's; the PID namespace is the host's), and says ``armed``;
2. waits for the go signal (``SIGUSR1``, sent by an exec from chaoskit at the fault instant, with the IDs of the
   node's running containers) and gives that exec ``SETTLE_S`` to return before the node goes quiet;
3. fails the node: ``stop`` sends SIGSTOP to the kubelet and then to every process of those containers (found by
   their container ID in ``/proc/<pid>/cgroup``: the same for every runtime and cgroup driver): the node's
   kernel and network stay up, so connections to its pods open and then hang, as on a frozen machine.
   ``partition`` adds iptables rules in the node's network namespace (through ``nsenter`` into the kubelet's
   mount and network namespaces, so the node's own iptables runs) that drop TCP to and from the API server's
   addresses (the ``kubernetes`` Service's endpoints) in INPUT, OUTPUT and FORWARD: the kubelet, kube-proxy and
   the pods lose the API server, while the pods go on serving;
4. sleeps ``duration`` on its **own timer** and restores the node (SIGCONT, containers first; or the rules
   removed), also on SIGTERM/SIGINT. Nothing of the restore needs the API server, which a partitioned node
   cannot reach and which cannot reach a stopped kubelet: the node comes back on time even if chaoskit dies.

``activeDeadlineSeconds`` bounds the pod (arm wait + duration + slack): a kubelet that is up ends it with
SIGTERM, which restores too. Everything here is pure (no I/O); ``nodefail_ops`` drives it.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from chaoskit.cluster.kube.config import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    NAME_LABEL,
    NODE_AGENT_IMAGE,
    RUN_ID_LABEL,
)
from chaoskit.cluster.protocol import NodeFailureMode

AGENT_NAME: Final = "chaoskit-node-agent"
"""The ``app.kubernetes.io/name`` of every node agent pod (cleanup finds them by it)."""
FAILURE_ANNOTATION: Final = "chaoskit.io/node-failure"
RESTORES_BY_ANNOTATION: Final = "chaoskit.io/restores-by"
"""When the agent's own timer brings the node back at the latest (UTC): what cleanup tells the user."""
CHAIN: Final = "CHAOSKIT-PARTITION"
CONTROL_PLANE_LABELS: Final = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
ARM_TIMEOUT_S: Final = 300.0
"""How long an armed agent waits for the go signal before it exits without touching anything."""
SETTLE_S: Final = 0.25
"""Between the go signal and the failure: the exec that carried the signal returns through the kubelet first."""
DEADLINE_SLACK_S: Final = 60.0
LOG_PREFIX: Final = "chaoskit-node-agent "
CONTAINER_ID: Final = re.compile(r"^(?:[a-z0-9-]+://)?([0-9a-f]{12,})$")

SCRIPT: Final = r'''# chaoskit node agent (chaoskit/cluster/kube/nodefail.py): fails this node, restores it on a timer.
set -u
W=${AGENT_DIR:-/tmp}
say() { echo "chaoskit-node-agent ${EPOCHREALTIME:-$(date +%s)} $*"; }
read -r me _ < /proc/self/stat  # this shell's PID (the host's: hostPID); no double dollar: Kubernetes rewrites it
echo "$me" > $W/agent.pid
mine=$(readlink /proc/self/ns/net)
kubelet=""
for d in /proc/[0-9]*; do
  [ "$(cat "$d/comm" 2>/dev/null)" = "$KUBELET_COMM" ] || continue
  [ "$(readlink "$d/ns/net" 2>/dev/null)" = "$mine" ] || continue
  [ -z "$kubelet" ] || { say "error: two $KUBELET_COMM processes in this network namespace"; exit 3; }
  kubelet=${d#/proc/}
done
[ -n "$kubelet" ] || { say "error: no $KUBELET_COMM process in this node's network namespace"; exit 3; }
ipt() {
  case "$1" in 6) shift; nsenter -t "$kubelet" -m -n -- ip6tables -w "$@" ;;
               *) shift; nsenter -t "$kubelet" -m -n -- iptables -w "$@" ;; esac
}
if [ "$MODE" = partition ]; then
  ipt 4 -S OUTPUT >/dev/null || { say "error: iptables does not run in this node's namespaces"; exit 3; }
  if ipt 4 -S "$CHAIN" >/dev/null 2>&1; then say "error: chain $CHAIN exists: already partitioned"; exit 3; fi
fi
failed=0
nap=""
napping() { sleep "$1" & nap=$!; wait "$nap"; kill "$nap" 2>/dev/null; nap=""; }
unpartition() {
  for v in 4 6; do
    for hook in INPUT OUTPUT FORWARD; do while ipt $v -D "$hook" -j "$CHAIN" 2>/dev/null; do :; done; done
    ipt $v -F "$CHAIN" 2>/dev/null; ipt $v -X "$CHAIN" 2>/dev/null
  done
}
restore() {
  [ "$failed" = 1 ] || return 0
  if [ "$MODE" = stop ]; then
    for pid in $(tac $W/stopped); do kill -CONT "$pid" 2>/dev/null; done
  else
    unpartition
  fi
  failed=0
  say "restored"
}
freeze() {
  : > $W/stopped
  kill -STOP "$kubelet" && echo "$kubelet" >> $W/stopped
  grep -E '^[0-9a-f]{12,}$' $W/containers.in > $W/containers 2>/dev/null
  [ -s $W/containers ] || return 0
  for round in 1 2; do
    for f in $(grep -l -F -f $W/containers /proc/[0-9]*/cgroup 2>/dev/null); do
      pid=${f#/proc/}; pid=${pid%/cgroup}
      [ "$pid" = "$me" ] && continue
      grep -qx "$pid" $W/stopped && continue
      kill -STOP "$pid" 2>/dev/null && echo "$pid" >> $W/stopped
    done
  done
}
partition() {
  for v in 4 6; do ipt $v -N "$CHAIN" 2>/dev/null; done
  for ep in $API_ENDPOINTS; do
    case "$ep" in "["*) v=6; host=${ep%]:*}; host=${host#[} ;; *) v=4; host=${ep%:*} ;; esac
    port=${ep##*:}
    ipt $v -A "$CHAIN" -d "$host" -p tcp --dport "$port" -j DROP || return 1
    ipt $v -A "$CHAIN" -s "$host" -p tcp --sport "$port" -j DROP || return 1
  done
  for v in 4 6; do
    for hook in INPUT OUTPUT FORWARD; do ipt $v -I "$hook" 1 -j "$CHAIN" 2>/dev/null || [ $v = 6 ] || return 1; done
  done
}
stopping() { say "stopping on $1"; [ -z "$nap" ] || kill "$nap" 2>/dev/null; restore; exit 0; }
trap 'stopping TERM' TERM
trap 'stopping INT' INT
go=0
trap 'go=1' USR1
touch $W/armed
say "armed mode=$MODE kubelet=$kubelet duration=$DURATION_S"
napping "$ARM_TIMEOUT_S"
[ "$go" = 1 ] || { say "never told to fail within ${ARM_TIMEOUT_S}s: nothing done"; exit 0; }
trap '' USR1
napping "$SETTLE_S"
failed=1
if [ "$MODE" = stop ]; then
  freeze
  say "failed mode=stop stopped=$(wc -l < $W/stopped)"
else
  partition || { say "error: could not add the partition rules"; restore; exit 3; }
  say "failed mode=partition endpoints=$API_ENDPOINTS"
fi
napping "$DURATION_S"
restore
exit 0
'''
"""busybox sh. Arguments come from the environment only; nothing is spliced into the text. Kubernetes expands
``$(NAME)`` of the container's variables and turns ``$$`` into ``$`` in a command: the script uses neither."""

GO_COMMAND: Final = ('printf "%s\\n" "$@" > /tmp/containers.in && test -f /tmp/armed '
                     '&& kill -USR1 "$(cat /tmp/agent.pid)"')
"""The go signal, exec'd in the agent: the container IDs as arguments. The agent's PID is the host's (hostPID):
``kill 1`` would hit the node's init, so the agent writes its own PID down."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSpec:
    """One node agent: where, how long, and what it needs to know."""

    node: str
    mode: NodeFailureMode
    duration_s: float
    namespace: str
    name: str
    run_id: str
    image: str = NODE_AGENT_IMAGE
    api_endpoints: tuple[str, ...] = ()
    """``host:port`` (``[v6]:port``) of the API server as the node reaches it; ``partition`` drops traffic to them."""
    arm_timeout_s: float = ARM_TIMEOUT_S
    settle_s: float = SETTLE_S
    armed_at_s: float = 0.0
    """Wall clock (s) when the pod is created: the restores-by annotation counts from it."""
    kubelet_comm: str = "kubelet"

    @property
    def deadline_s(self) -> int:
        return math.ceil(self.arm_timeout_s + self.settle_s + self.duration_s + DEADLINE_SLACK_S)

    @property
    def restores_by(self) -> str:
        latest = self.armed_at_s + self.arm_timeout_s + self.settle_s + self.duration_s
        return datetime.fromtimestamp(math.ceil(latest), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def agent_labels(spec: AgentSpec) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_ID_LABEL: spec.run_id, NAME_LABEL: AGENT_NAME}


def render_pod(spec: AgentSpec) -> dict[str, Any]:
    """The agent pod: on ``spec.node`` whatever its taints, privileged, host PID and network, time-bounded."""
    env = {"AGENT_DIR": "/tmp", "MODE": spec.mode, "DURATION_S": _seconds(spec.duration_s),
           "ARM_TIMEOUT_S": _seconds(spec.arm_timeout_s), "SETTLE_S": _seconds(spec.settle_s),
           "API_ENDPOINTS": " ".join(spec.api_endpoints), "CHAIN": CHAIN, "KUBELET_COMM": spec.kubelet_comm}
    container = {
        "name": "agent", "image": spec.image, "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", SCRIPT], "env": [{"name": k, "value": v} for k, v in env.items()],
        "securityContext": {"privileged": True},
        # Ready once it found the kubelet (and iptables): what chaoskit waits for before the fault instant.
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/armed"]}, "periodSeconds": 1, "failureThreshold": 1},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
    }
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": agent_labels(spec),
                     "annotations": {FAILURE_ANNOTATION: f"{spec.mode} {_seconds(spec.duration_s)}s",
                                     RESTORES_BY_ANNOTATION: spec.restores_by}},
        "spec": {
            "nodeName": spec.node, "hostPID": True, "hostNetwork": True, "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False, "terminationGracePeriodSeconds": 30,
            "activeDeadlineSeconds": spec.deadline_s,
            "tolerations": [{"operator": "Exists"}], "containers": [container],
        },
    }


def render_namespace(name: str, *, run_id: str) -> dict[str, Any]:
    """The agents' namespace when chaoskit creates it: Pod Security admission must let privileged pods in."""
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_ID_LABEL: run_id}
    labels |= {f"pod-security.kubernetes.io/{mode}": "privileged" for mode in ("enforce", "audit", "warn")}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def go_command(container_ids: Sequence[str]) -> list[str]:
    return ["sh", "-c", GO_COMMAND, "chaoskit-go", *container_ids]


def running_container_ids(pods: Iterable[Mapping[str, Any]], *, skip_uid: str = "") -> list[str]:
    """IDs (without the runtime prefix) of every running container of ``pods``: what ``stop`` freezes."""
    ids = []
    for pod in pods:
        if pod.get("metadata", {}).get("uid") == skip_uid:
            continue
        status = pod.get("status") or {}
        for st in [*(status.get("containerStatuses") or []), *(status.get("initContainerStatuses") or []),
                   *(status.get("ephemeralContainerStatuses") or [])]:
            found = CONTAINER_ID.match(str(st.get("containerID") or ""))
            if found and "running" in (st.get("state") or {}):
                ids.append(found.group(1))
    return sorted(set(ids))


def api_endpoints(slices: Iterable[Mapping[str, Any]]) -> list[str]:
    """``host:port`` of every ready endpoint of the ``kubernetes`` Service (the API servers' advertised addresses)."""
    out = []
    for sl in slices:
        ports = [int(p["port"]) for p in sl.get("ports") or [] if p.get("port")]
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            for address in ep.get("addresses") or []:
                host = f"[{address}]" if ":" in str(address) else str(address)
                out += [f"{host}:{port}" for port in ports]
    return sorted(set(out))


@dataclass(frozen=True, slots=True)
class AgentLog:
    """What an agent's log says (its clock: the node's wall clock)."""

    armed_s: float | None = None
    failed_s: float | None = None
    restored_s: float | None = None
    errors: tuple[str, ...] = ()
    lines: tuple[str, ...] = field(default_factory=tuple)


def parse_log(text: str) -> AgentLog:
    stamps: dict[str, float] = {}
    errors, lines = [], []
    for line in text.splitlines():
        if not line.startswith(LOG_PREFIX):
            continue
        lines.append(line)
        parts = line[len(LOG_PREFIX):].split(" ", 2)
        if len(parts) < 2:
            continue
        try:
            stamp = float(parts[0])
        except ValueError:
            continue
        event = parts[1].rstrip(":")
        stamps.setdefault(event, stamp)
        if event == "error":
            errors.append(line[len(LOG_PREFIX):])
    return AgentLog(stamps.get("armed"), stamps.get("failed"), stamps.get("restored"), tuple(errors), tuple(lines))


def protected(nodes: Iterable[Mapping[str, Any]], *, local_addresses: Iterable[str],
              own_node: str | None, load_agent_nodes: Iterable[str]) -> dict[str, str]:
    """Nodes a node failure must never hit, with the reason: control-plane nodes, the node chaoskit runs on (its
    own address, or the node of its pod) and the nodes of its in-cluster load agent."""
    out: dict[str, str] = {}
    mine = set(local_addresses)
    for node in nodes:
        meta = node.get("metadata") or {}
        name = str(meta.get("name", ""))
        labels = meta.get("labels") or {}
        addresses = {str(a.get("address")) for a in (node.get("status") or {}).get("addresses") or []}
        if any(label in labels for label in CONTROL_PLANE_LABELS):
            out[name] = "runs the control plane (label node-role.kubernetes.io/control-plane)"
        elif name == own_node:
            out[name] = "runs chaoskit (its pod is there)"
        elif addresses & mine:
            out[name] = f"runs chaoskit (this host has its address {sorted(addresses & mine)[0]})"
    for name in load_agent_nodes:
        out.setdefault(name, "runs chaoskit's in-cluster load agent")
    return out


def address_literals(nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The IP addresses the nodes report (host names left out): what to check against this host's."""
    found = []
    for node in nodes:
        for address in (node.get("status") or {}).get("addresses") or []:
            try:
                found.append(str(ipaddress.ip_address(str(address.get("address")))))
            except ValueError:
                continue
    return sorted(set(found))
