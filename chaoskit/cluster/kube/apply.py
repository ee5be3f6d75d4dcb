"""Server-side apply of the experiment's manifests (field manager ``chaoskit``, run-id labels), namespace
creation when asked, and deletion that waits (by watch) until the objects are gone. Blocking functions.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.cluster.kube.api import JsonObj, KubeApi, Resource, iter_lines
from chaoskit.cluster.kube.config import (
    FIELD_MANAGER,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    RUN_ID_LABEL,
)
from chaoskit.cluster.protocol import ClusterError, Manifest, ManifestError, NotFoundError, WaitTimeout


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Identity of one applied object, enough to find and delete it again."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def text(self) -> str:
        return f"{self.kind}/{self.name}" + (f" in {self.namespace}" if self.namespace else "")


def labelled(manifest: Manifest, *, run_id: str) -> JsonObj:
    """A copy of ``manifest`` carrying the run-id and managed-by labels; checks the identity fields."""
    obj: JsonObj = copy.deepcopy(dict(manifest))
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise ManifestError(f"manifest without {key}: {json.dumps(obj)[:120]}")
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ManifestError(f"{obj['kind']} without metadata.name")
    labels = meta.setdefault("labels", {})
    labels[RUN_ID_LABEL] = run_id
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    obj.pop("status", None)
    return obj


def ordered(objs: Sequence[JsonObj]) -> list[JsonObj]:
    """Namespaces first (everything else lives in them); otherwise the order given."""
    return sorted(objs, key=lambda o: 0 if o["kind"] == "Namespace" else 1)


def ref_of(obj: JsonObj) -> ObjectRef:
    meta = obj["metadata"]
    return ObjectRef(obj["apiVersion"], obj["kind"], str(meta.get("namespace", "")), str(meta["name"]))


def namespaces_of(manifests: Sequence[Manifest]) -> set[str]:
    """Namespaces the manifests live in or create."""
    out: set[str] = set()
    for m in manifests:
        meta = m.get("metadata") or {}
        if m.get("kind") == "Namespace" and meta.get("name"):
            out.add(str(meta["name"]))
        elif meta.get("namespace"):
            out.add(str(meta["namespace"]))
    return out


def exists(api: KubeApi, res: Resource, namespace: str, name: str) -> bool:
    try:
        api.request("GET", res.path(namespace or None, name))
    except NotFoundError:
        return False
    return True


NAMESPACE_GONE_TIMEOUT_S = 180.0
"""How long a namespace still terminating (from an earlier run) may take to go before we recreate it."""


def apply_object(api: KubeApi, obj: JsonObj) -> bool:
    """Server-side apply ``obj``; returns whether it did not exist before (so teardown deletes it)."""
    ref = ref_of(obj)
    res = api.resource(ref.api_version, ref.kind)
    if ref.kind == "Namespace":
        created = not _live_namespace(api, ref.name)
    else:
        created = not exists(api, res, ref.namespace, ref.name)
    api.request(
        "PATCH", res.path(ref.namespace or None, ref.name),
        query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        body=obj, content_type="application/apply-patch+yaml",
    )
    return created


def validate_objects(api: KubeApi, objs: Sequence[JsonObj]) -> None:
    """Server-side apply each object with ``dryRun=All``: the API server checks it against its schema and
    admission (an unknown field, a bad value, a policy) and changes nothing. Raises the first rejection
    (ApiManifestError for a bad manifest). An object whose namespace does not exist yet cannot be checked
    (only in chaoskit's own --dry-run, which creates no namespace): skipped."""
    for obj in objs:
        ref = ref_of(obj)
        res = api.resource(ref.api_version, ref.kind)
        try:
            api.request("PATCH", res.path(ref.namespace or None, ref.name),
                        query=[("fieldManager", FIELD_MANAGER), ("force", "true")], body=obj,
                        content_type="application/apply-patch+yaml", server_dry_run=True)
        except NotFoundError:
            continue


def namespace_object(name: str, *, run_id: str) -> JsonObj:
    return labelled({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                    run_id=run_id)


def delete_object(api: KubeApi, ref: ObjectRef) -> bool:
    """Delete with foreground propagation (dependents go first); False when it was already gone."""
    res = api.resource(ref.api_version, ref.kind)
    try:
        api.request("DELETE", res.path(ref.namespace or None, ref.name),
                    body={"propagationPolicy": "Foreground"})
    except NotFoundError:
        return False
    return True


def wait_gone(api: KubeApi, ref: ObjectRef, *, timeout_s: float) -> None:
    """Watch one object until it is deleted; WaitTimeout names it if it outlives ``timeout_s``."""
    if api.dry_run:
        return
    res = api.resource(ref.api_version, ref.kind)
    deadline = time.monotonic() + timeout_s
    collection = res.path(ref.namespace or None)
    selector = ("fieldSelector", f"metadata.name={ref.name}")
    while (remaining := deadline - time.monotonic()) > 0:
        listing = api.request("GET", collection, query=[selector])
        if not listing.get("items"):
            return
        rv = str(listing.get("metadata", {}).get("resourceVersion", ""))
        query = [selector, ("watch", "true"), ("resourceVersion", rv),
                 ("timeoutSeconds", str(max(1, math.ceil(remaining))))]
        resp = api.open_stream(collection, query=query, read_timeout_s=remaining + 5)
        try:
            for line in iter_lines(resp):
                if line.strip() and json.loads(line).get("type") == "DELETED":
                    return
        except Exception:  # noqa: S112 - a cut watch stream: list again (bounded by the deadline)
            continue
        finally:
            resp.close()
    raise WaitTimeout(f"{ref.text} still exists after {timeout_s:g}s",
                      hint="a finalizer may hold it: kubectl get -o yaml shows metadata.finalizers")


def require_namespace(api: KubeApi, name: str, *, create: bool, run_id: str) -> bool:
    """Make sure ``name`` exists; create it (labelled) only when allowed. Returns whether it was created."""
    if _live_namespace(api, name):
        return False
    if not create:
        raise ClusterError(f"namespace {name!r} does not exist",
                           hint="add a Namespace manifest or let the experiment create it "
                           "(create_namespaces)")
    apply_object(api, namespace_object(name, run_id=run_id))
    return True


def _live_namespace(api: KubeApi, name: str) -> bool:
    """Whether ``name`` exists and is not terminating; a terminating one is watched until it is gone
    (nothing can be created in it meanwhile), so the caller can create it afresh."""
    try:
        current = api.request("GET", f"/api/v1/namespaces/{name}")
    except NotFoundError:
        return False
    if not current.get("metadata", {}).get("deletionTimestamp"):
        return True
    wait_gone(api, ObjectRef("v1", "Namespace", "", name), timeout_s=NAMESPACE_GONE_TIMEOUT_S)
    return False
