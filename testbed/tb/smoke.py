"""`up`'s last gate: nodes Ready, then a Deployment spread over them answering every path a test relies on."""

from __future__ import annotations

import subprocess
import time
import urllib.request

from . import config
from .config import Node, Paths


class NotReadyError(Exception):
    """The cluster did not reach a state within its bound; the message says which and where to look."""


def smoke_manifest(replicas: int) -> str:
    """One httpd pod per node (hard spread on the hostname), a ClusterIP and a LoadBalancer Service (whose
    NodePort is fixed)."""
    return f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {config.SMOKE_NAMESPACE}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: smoke, namespace: {config.SMOKE_NAMESPACE}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: smoke}}}}
  template:
    metadata: {{labels: {{app: smoke}}}}
    spec:
      terminationGracePeriodSeconds: 5
      topologySpreadConstraints:
        - {{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
            labelSelector: {{matchLabels: {{app: smoke}}}}}}
      containers:
        - name: httpd
          image: httpd:2.4
          imagePullPolicy: IfNotPresent
          ports: [{{containerPort: 80}}]
          readinessProbe: {{httpGet: {{path: /, port: 80}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: smoke, namespace: {config.SMOKE_NAMESPACE}}}
spec:
  selector: {{app: smoke}}
  ports: [{{port: 80, targetPort: 80}}]
---
apiVersion: v1
kind: Service
metadata: {{name: smoke-nodeport, namespace: {config.SMOKE_NAMESPACE}}}
spec:
  type: LoadBalancer
  selector: {{app: smoke}}
  ports: [{{port: 80, targetPort: 80, nodePort: {config.SMOKE_NODEPORT}}}]
"""


PINNED_SERVICE = f"""
apiVersion: v1
kind: Service
metadata: {{name: smoke-node-1, namespace: {config.SMOKE_NAMESPACE}}}
spec:
  selector: {{app: smoke, smoke-node: "1"}}
  ports: [{{port: 80, targetPort: 80}}]
"""
"""A ClusterIP whose only endpoint is node 1's pod (labelled by the smoke test), for the node-2 -> node-1 check."""


def kubectl(p: Paths, *args: str, stdin: str | None = None, timeout_s: float = 60.0) -> str:
    done = subprocess.run([p.exe("kubectl"), f"--kubeconfig={p.kubeconfig}", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise NotReadyError(f"kubectl {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def wait_nodes_ready(p: Paths, nodes: tuple[Node, ...], *, timeout_s: float) -> None:
    names = [f"node/{n.name}" for n in nodes]
    for what in ("--for=create", "--for=condition=Ready"):
        for name in names:
            kubectl(p, "wait", what, name, f"--timeout={int(timeout_s)}s", timeout_s=timeout_s + 10)


def _http_answers(url: str, *, timeout_s: float) -> int:
    """GET `url` until it returns the httpd page; bounded by `timeout_s`. Returns attempts used."""
    deadline = time.monotonic() + timeout_s
    attempts = 0
    last = "no attempt"
    while time.monotonic() < deadline:
        attempts += 1
        try:
            with urllib.request.urlopen(url, timeout=2.0) as resp:  # noqa: S310
                if resp.status == 200 and b"It works!" in resp.read():
                    return attempts
                last = f"HTTP {resp.status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise NotReadyError(f"{url} did not answer within {timeout_s:.0f}s ({attempts} tries, last: {last})")


def _pods_by_node(p: Paths) -> dict[str, tuple[str, str]]:
    """node name -> (pod name, pod IP) of the smoke pods."""
    out = kubectl(p, "-n", config.SMOKE_NAMESPACE, "get", "pods", "-l", "app=smoke", "-o",
                  "jsonpath={range .items[*]}{.spec.nodeName} {.metadata.name} {.status.podIP}{'\\n'}{end}")
    return {node: (pod, ip) for node, pod, ip in (line.split() for line in out.splitlines() if line.strip())}


def _exec(p: Paths, pod: str, script: str) -> str:
    return kubectl(p, "-n", config.SMOKE_NAMESPACE, "exec", pod, "--", "sh", "-c", script)


def _check_api_from(p: Paths, pod: str) -> None:
    # Plain HTTP on purpose: busybox wget's TLS segfaults on this ECDSA certificate; Go's TLS
    # server answering "HTTP request to an HTTPS server" proves the whole path.
    answer = _exec(p, pod, f"printf 'GET /livez HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {config.KUBERNETES_SVC_IP} 443")
    if "HTTP request to an HTTPS server" not in answer:
        raise NotReadyError(f"pod {pod} could not reach the API server at {config.KUBERNETES_SVC_IP}:443: "
                            f"{answer.strip()!r}")


def _check_http_from(p: Paths, pod: str, ip: str) -> None:
    """`pod` GETs http://ip/ (retrying up to ~10 s: a new Service reaches kube-proxy within about a second).

    nc, not wget: this busybox's `wget -T` segfaults.
    """
    get = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80"
    script = f"for i in $(seq 20); do {get} | grep -q 'It works!' && exit 0; sleep 0.5; done; exit 1"
    try:
        _exec(p, pod, script)
    except NotReadyError as exc:
        raise NotReadyError(f"pod {pod} got no httpd page from http://{ip}/: {exc}") from exc


def _check_logs_exec(p: Paths, pod: str) -> None:
    """`kubectl exec` writes a line to the container's stdout; `kubectl logs` must show it."""
    marker = f"tb-smoke-{time.monotonic_ns()}"
    _exec(p, pod, f"echo {marker} > /proc/1/fd/1")
    deadline = time.monotonic() + 10.0
    while marker not in kubectl(p, "-n", config.SMOKE_NAMESPACE, "logs", pod):
        if time.monotonic() > deadline:
            raise NotReadyError(f"kubectl logs {pod} does not show what kubectl exec wrote")
        time.sleep(0.2)


def _cross_node_checks(p: Paths, nodes: tuple[Node, ...], pods: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Node 2's pod reaches node 1's pod by pod IP and by a ClusterIP; logs and exec work on node 2."""
    (pod1, ip1), (pod2, _) = pods[nodes[0].name], pods[nodes[1].name]
    kubectl(p, "-n", config.SMOKE_NAMESPACE, "label", "pod", pod1, "smoke-node=1")
    kubectl(p, "apply", "-f", "-", stdin=PINNED_SERVICE)
    pinned = kubectl(p, "-n", config.SMOKE_NAMESPACE, "get", "svc", "smoke-node-1", "-o", "jsonpath={.spec.clusterIP}")
    _check_http_from(p, pod2, ip1)
    _check_http_from(p, pod2, pinned)
    _check_logs_exec(p, pod2)
    return {"node-2 pod -> node-1 pod IP": ip1, "node-2 pod -> ClusterIP of node-1 pod": pinned,
            "kubectl exec + logs on node 2": pod2}


def _load_balancer_ip(p: Paths, *, timeout_s: float) -> str:
    """The ingress address tb/cloud.py gave the smoke LoadBalancer Service."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ip = kubectl(p, "-n", config.SMOKE_NAMESPACE, "get", "svc", "smoke-nodeport", "-o",
                     "jsonpath={.status.loadBalancer.ingress[0].ip}").strip()
        if ip:
            return ip
        time.sleep(0.2)
    raise NotReadyError(f"no load-balancer address for the smoke Service in {timeout_s:.0f}s "
                        "(see logs/cloud-controller.log)")


def run_smoke(p: Paths, nodes: tuple[Node, ...], *, timeout_s: float) -> dict[str, str]:
    """Deploy one pod per node, check every path from the host and between nodes, delete; returns what passed."""
    ns = config.SMOKE_NAMESPACE
    kubectl(p, "apply", "-f", "-", stdin=smoke_manifest(len(nodes)))
    kubectl(p, "-n", ns, "rollout", "status", "deployment/smoke", f"--timeout={int(timeout_s)}s",
            timeout_s=timeout_s + 10)
    pods = _pods_by_node(p)
    if sorted(pods) != sorted(n.name for n in nodes):
        raise NotReadyError(f"smoke pods not spread one per node: {pods}")
    cluster_ip = kubectl(p, "-n", ns, "get", "svc", "smoke", "-o", "jsonpath={.spec.clusterIP}")
    passed = {"ClusterIP from the host": f"http://{cluster_ip}:80/"}
    passed |= {f"NodePort on {n.name}": f"http://{n.ip}:{config.SMOKE_NODEPORT}/" for n in nodes}
    passed["LoadBalancer from the host"] = f"http://{_load_balancer_ip(p, timeout_s=30.0)}:80/"
    for url in passed.values():
        _http_answers(url, timeout_s=60.0)
    for node in nodes:
        # And the other way round: each node's pod reaches the API server through the `kubernetes` Service.
        _check_api_from(p, pods[node.name][0])
        passed[f"API server from a pod on {node.name}"] = f"{config.KUBERNETES_SVC_IP}:443"
    if len(nodes) > 1:
        passed |= _cross_node_checks(p, nodes, pods)
    kubectl(p, "delete", "namespace", ns, "--wait=true", f"--timeout={int(timeout_s)}s",
            timeout_s=timeout_s + 10)
    return passed
