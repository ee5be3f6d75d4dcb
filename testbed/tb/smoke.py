"""`up`'s last gate: node Ready, then a Deployment + Services answering via ClusterIP and NodePort."""

from __future__ import annotations

import subprocess
import time
import urllib.request

from . import config
from .config import Paths


class NotReadyError(Exception):
    """The cluster did not reach a state within its bound; the message says which and where to look."""


SMOKE_MANIFEST = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {config.SMOKE_NAMESPACE}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: smoke, namespace: {config.SMOKE_NAMESPACE}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: smoke}}}}
  template:
    metadata: {{labels: {{app: smoke}}}}
    spec:
      terminationGracePeriodSeconds: 5
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
  type: NodePort
  selector: {{app: smoke}}
  ports: [{{port: 80, targetPort: 80, nodePort: {config.SMOKE_NODEPORT}}}]
"""


def kubectl(p: Paths, *args: str, stdin: str | None = None, timeout_s: float = 60.0) -> str:
    done = subprocess.run([p.exe("kubectl"), f"--kubeconfig={p.kubeconfig}", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise NotReadyError(f"kubectl {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def wait_node_ready(p: Paths, *, timeout_s: float) -> None:
    node = f"node/{config.NODE_NAME}"
    kubectl(p, "wait", "--for=create", node, f"--timeout={int(timeout_s)}s", timeout_s=timeout_s + 10)
    kubectl(p, "wait", "--for=condition=Ready", node, f"--timeout={int(timeout_s)}s",
            timeout_s=timeout_s + 10)


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


def run_smoke(p: Paths, *, timeout_s: float) -> dict[str, str]:
    """Deploy, check both paths from the host, delete; returns the URLs that answered."""
    ns = config.SMOKE_NAMESPACE
    kubectl(p, "apply", "-f", "-", stdin=SMOKE_MANIFEST)
    kubectl(p, "-n", ns, "rollout", "status", "deployment/smoke", f"--timeout={int(timeout_s)}s",
            timeout_s=timeout_s + 10)
    cluster_ip = kubectl(p, "-n", ns, "get", "svc", "smoke", "-o", "jsonpath={.spec.clusterIP}")
    urls = {"ClusterIP": f"http://{cluster_ip}:80/",
            "NodePort": f"http://{config.NODE_IP}:{config.SMOKE_NODEPORT}/"}
    for url in urls.values():
        _http_answers(url, timeout_s=60.0)
    # And the other way round: a pod reaches the API server through the `kubernetes` Service.
    # (Plain HTTP on purpose: busybox wget's TLS segfaults on this ECDSA certificate; Go's TLS
    # server answering "HTTP request to an HTTPS server" proves the whole path.)
    api = f"{config.KUBERNETES_SVC_IP}:443"
    answer = kubectl(p, "-n", ns, "exec", "deployment/smoke", "--", "sh", "-c",
                     f"printf 'GET /livez HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {api.replace(':', ' ')}")
    if "HTTP request to an HTTPS server" not in answer:
        raise NotReadyError(f"a pod could not reach the API server at {api}: {answer.strip()!r}")
    urls["API from a pod"] = api
    kubectl(p, "delete", "namespace", ns, "--wait=true", f"--timeout={int(timeout_s)}s",
            timeout_s=timeout_s + 10)
    return urls
