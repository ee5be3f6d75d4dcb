"""The test bed's stand-in for what a cloud gives a cluster: load balancers and node-local volumes (stdlib only).

Run by the supervisor as `python3 -m tb.cloud <state dir>` (component `cloud-controller`), as admin:

* **LoadBalancer**: a Service of type LoadBalancer (without a loadBalancerClass) gets
  `status.loadBalancer.ingress: [{ip, ipMode: VIP}]` from `config.LB_CIDR` (routed into node 1's bridge like the
  service CIDR), as a cloud controller does; kube-proxy then programs that address on every node. An address
  is used by one Service at a time; it is free again once that Service is gone or no longer a LoadBalancer.
* **StorageClasses**: `standard` (the default: kube-controller-manager's host-path provisioner, enabled with
  `--enable-hostpath-provisioner`; its directories are under /tmp/hostpath_pv, which both nodes see: network
  storage, the data follows the pod) and `local-path` (node-local, WaitForFirstConsumer, provisioned here).
* **local-path provisioner**: a claim of class `local-path` that the scheduler gave a node
  (`volume.kubernetes.io/selected-node`) gets a hostPath PersistentVolume pinned to that node
  (`/var/lib/chaoskit-local/<pv>`: node 2's is its private copy); a released one is deleted with its directory.

Each loop lists, reconciles, then watches until something changes (bounded watch windows), so a change is
acted on within a watch round trip. Readiness: `<state>/cloud.ready` once every loop reconciled once.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import config, nodens

PROVISIONER = "chaoskit.io/testbed-local-path"
LOCAL_CLASS = "local-path"
LOCAL_ROOT = "/var/lib/chaoskit-local"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
STORAGE_CLASSES = [
    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
     "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true",
                                                      "chaoskit.io/storage": "network"}},
     "provisioner": "kubernetes.io/host-path", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"},
    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
     "metadata": {"name": LOCAL_CLASS, "annotations": {"chaoskit.io/storage": "local"}},
     "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"},
]
Obj = dict[str, Any]


class Api:
    """JSON requests to the API server with the admin client certificate."""

    def __init__(self, p: config.Paths) -> None:
        self.base = f"https://127.0.0.1:{config.API_PORT}"
        self.ctx = ssl.create_default_context(cafile=str(p.pki / "ca.crt"))
        self.ctx.load_cert_chain(str(p.pki / "admin.crt"), str(p.pki / "admin.key"))

    def call(self, method: str, path: str, body: Obj | None = None, *,
             content_type: str = "application/json", timeout: float = 30.0) -> Obj:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,  # noqa: S310
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as resp:  # noqa: S310
            raw = resp.read()
        return json.loads(raw) if raw else {}

    def watch(self, path: str, rv: str, *, window_s: int = 60) -> Any:
        sep = "&" if "?" in path else "?"
        url = f"{self.base}{path}{sep}watch=1&resourceVersion={rv}&timeoutSeconds={window_s}"
        return urllib.request.urlopen(url, context=self.ctx, timeout=window_s + 10)  # noqa: S310


def log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def run_loop(api: Api, path: str, reconcile: Callable[[list[Obj]], None], ready: threading.Event) -> None:
    """List, reconcile, watch until a change (or the window ends), repeat; errors are logged and retried."""
    while True:
        try:
            listing = api.call("GET", path)
            reconcile(listing.get("items", []))
            ready.set()
            with api.watch(path, str(listing["metadata"].get("resourceVersion", ""))) as stream:
                for line in stream:
                    if line.strip():
                        break  # something changed: list and reconcile again
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            log(f"{path}: {exc}; retrying in 1s")
            time.sleep(1.0)


class LoadBalancers:
    """Hands out ingress addresses from LB_CIDR to LoadBalancer Services."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.pool = [str(ip) for ip in ipaddress.ip_network(config.LB_CIDR).hosts()][1:]  # .1 stays unused

    def reconcile(self, services: list[Obj]) -> None:
        wanting, used = [], set()
        for svc in services:
            spec = svc.get("spec") or {}
            if spec.get("type") != "LoadBalancer" or spec.get("loadBalancerClass"):
                continue
            ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            ips = [i.get("ip") for i in ingress if i.get("ip") in self.pool]
            if ips:
                used.update(ips)
            else:
                wanting.append(svc)
        free = [ip for ip in self.pool if ip not in used]
        for svc in wanting:
            if not free:
                log("load balancer pool exhausted")
                return
            ip = free.pop(0)
            meta = svc["metadata"]
            self.api.call("PATCH", f"/api/v1/namespaces/{meta['namespace']}/services/{meta['name']}/status",
                          {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}},
                          content_type="application/merge-patch+json")
            log(f"service {meta['namespace']}/{meta['name']}: load balancer {ip}")


class LocalPath:
    """Provisions and deletes node-pinned hostPath volumes for claims of class local-path."""

    def __init__(self, api: Api, p: config.Paths) -> None:
        self.api = api
        self.paths = p

    def host_dir(self, node: str, pv: str) -> Path:
        """Where a node's volume directory is, seen from the host (node 2's is under its private root)."""
        for n in (config.NODE1, config.NODE2):
            if n.name == node and n.isolated:
                return nodens.private_source(self.paths, n, LOCAL_ROOT) / pv
        return Path(LOCAL_ROOT) / pv

    def provision(self, claims: list[Obj]) -> None:
        for pvc in claims:
            meta, spec = pvc["metadata"], pvc.get("spec") or {}
            node = (meta.get("annotations") or {}).get(SELECTED_NODE)
            if (spec.get("storageClassName") != LOCAL_CLASS or spec.get("volumeName") or not node
                    or (pvc.get("status") or {}).get("phase") != "Pending"):
                continue
            name = f"pvc-{meta['uid']}"
            self.api_create_pv(pvc, name, node)

    def api_create_pv(self, pvc: Obj, name: str, node: str) -> None:
        meta, spec = pvc["metadata"], pvc.get("spec") or {}
        pv = {"apiVersion": "v1", "kind": "PersistentVolume",
              "metadata": {"name": name, "annotations": {PROVISIONED_BY: PROVISIONER}},
              "spec": {"capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")},
                       "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                       "persistentVolumeReclaimPolicy": "Delete", "storageClassName": LOCAL_CLASS,
                       "volumeMode": "Filesystem",
                       "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                    "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
                       "hostPath": {"path": f"{LOCAL_ROOT}/{name}", "type": "DirectoryOrCreate"},
                       "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                           {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}
        try:
            self.api.call("POST", "/api/v1/persistentvolumes", pv)
            log(f"claim {meta['namespace']}/{meta['name']}: volume {name} on {node}")
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # already made on an earlier round
                raise

    def delete_released(self, volumes: list[Obj]) -> None:
        for pv in volumes:
            meta = pv["metadata"]
            if (meta.get("annotations") or {}).get(PROVISIONED_BY) != PROVISIONER:
                continue
            if (pv.get("status") or {}).get("phase") not in ("Released", "Failed") or meta.get("deletionTimestamp"):
                continue
            terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
            node = terms[0]["matchExpressions"][0]["values"][0]
            shutil.rmtree(self.host_dir(node, meta["name"]), ignore_errors=True)
            self.api.call("DELETE", f"/api/v1/persistentvolumes/{meta['name']}")
            log(f"volume {meta['name']} on {node}: deleted with its directory")


def ensure_storage_classes(api: Api) -> None:
    for sc in STORAGE_CLASSES:
        try:
            api.call("POST", "/apis/storage.k8s.io/v1/storageclasses", sc)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise


def main(state_dir: str) -> int:
    p = config.paths()
    p = config.Paths(state=Path(state_dir), cache=p.cache)
    api = Api(p)
    for attempt in range(60):
        try:
            ensure_storage_classes(api)
            break
        except (OSError, urllib.error.URLError) as exc:
            if attempt == 59:
                raise
            log(f"storage classes: {exc}; retrying")
            time.sleep(1.0)
    lbs, local = LoadBalancers(api), LocalPath(api, p)
    loops = [("/api/v1/services", lbs.reconcile), ("/api/v1/persistentvolumeclaims", local.provision),
             ("/api/v1/persistentvolumes", local.delete_released)]
    events = []
    for path, reconcile in loops:
        ready = threading.Event()
        events.append(ready)
        threading.Thread(target=run_loop, args=(api, path, reconcile, ready), daemon=True, name=path).start()
    for ready in events:
        ready.wait()
    (p.state / "cloud.ready").write_text("1\n")
    log(f"ready: load balancers from {config.LB_CIDR}, storage classes standard (default) and {LOCAL_CLASS}")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
