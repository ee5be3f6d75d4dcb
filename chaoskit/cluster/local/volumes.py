"""PersistentVolumeClaims and StorageClasses on the embedded cluster: storage bound to a claim, not to a pod.

A claim's data is a directory that lives as long as the claim does (a StatefulSet's claims outlive its pods and
the StatefulSet itself: Kubernetes' default ``Retain`` policy). Where the directory is decides where pods that
use the claim may run:

* network storage (the embedded default StorageClass ``standard``, and every class not marked local): the
  directory is outside every node (``<state>/claims/<namespace>/<claim>``), so the data follows the pod to any
  node, as a cloud disk or NFS share does;
* local storage (a StorageClass with ``provisioner: rancher.io/local-path``, what kind and k3s ship, or any
  class annotated ``chaoskit.io/storage: local``): provisioned on the node of the first pod that uses the claim
  (``WaitForFirstConsumer``) under that node's root, and from then on pods using it can only run on that node;
  while that node is down they stay Pending, as on Kubernetes.

Not modelled: access modes (no Multi-Attach wait for ReadWriteOnce), capacity, static PersistentVolumes.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from chaoskit.cluster.local.objects import FieldReader, VolumeSpec
from chaoskit.cluster.protocol import ManifestError

DEFAULT_CLASS: Final = "standard"
"""The embedded cluster's default StorageClass: network storage (the data follows the pod to any node)."""
LOCAL_PROVISIONERS: Final = frozenset({"rancher.io/local-path"})
STORAGE_ANNOTATION: Final = "chaoskit.io/storage"
"""On a StorageClass: ``local`` (node-pinned volumes) or ``network`` (volumes any node can mount)."""
DEFAULT_CLASS_ANNOTATION: Final = "storageclass.kubernetes.io/is-default-class"
CLAIM_FIELDS: Final = frozenset({"accessModes", "resources", "storageClassName", "volumeMode"})


@dataclass(frozen=True, slots=True)
class StorageClassSpec:
    name: str
    local: bool
    default: bool = False


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """A bare PersistentVolumeClaim object of the manifests."""

    namespace: str
    name: str
    storage_class: str | None
    """None: the default StorageClass."""


@dataclass
class LocalClaim:
    namespace: str
    name: str
    storage_class: str
    local: bool
    directory: Path | None = None
    """Where the data is; set when the volume is provisioned (at once for network storage, at the first
    pod's scheduling for local storage)."""
    node: str | None = None
    """The node holding a local volume, once provisioned."""
    bare: bool = True
    """A PersistentVolumeClaim object of the manifests (removed with them); False: a StatefulSet's claim."""


def parse_storage_class(manifest: Mapping[str, Any]) -> StorageClassSpec:
    read = FieldReader(manifest)
    meta = read.mapping(manifest.get("metadata"), "metadata")
    annotations = read.labels(meta.get("annotations"), "metadata.annotations")
    provisioner = read.string(manifest.get("provisioner"), "provisioner")
    marked = annotations.get(STORAGE_ANNOTATION, "")
    if marked not in ("", "local", "network"):
        raise read.fail(f"metadata.annotations.{STORAGE_ANNOTATION}", f"unknown value {marked!r}",
                        hint="local (volumes pinned to a node) or network (any node)")
    if provisioner == "kubernetes.io/no-provisioner":
        raise read.fail("provisioner", "static local PersistentVolumes are not modelled by the local backend",
                        hint="use provisioner: rancher.io/local-path (node-local volumes provisioned where the "
                             "first pod runs), or --backend kube")
    local = marked == "local" or (not marked and provisioner in LOCAL_PROVISIONERS)
    return StorageClassSpec(read.string(meta.get("name"), "metadata.name"), local,
                            default=annotations.get(DEFAULT_CLASS_ANNOTATION) == "true")


def parse_claim(manifest: Mapping[str, Any]) -> ClaimSpec:
    read = FieldReader(manifest)
    meta = read.mapping(manifest.get("metadata"), "metadata")
    return ClaimSpec(str(meta.get("namespace", "default")), read.string(meta.get("name"), "metadata.name"),
                     claim_storage_class(read, manifest.get("spec"), "spec"))


def claim_storage_class(read: FieldReader, value: Any, path: str) -> str | None:
    """The StorageClass a claim spec asks for (None: the default); rejects what is not modelled."""
    spec = read.mapping(value, path)
    read.only(spec, CLAIM_FIELDS, path)
    if spec.get("volumeMode", "Filesystem") != "Filesystem":
        raise read.fail(f"{path}.volumeMode", "only Filesystem volumes are modelled by the local backend")
    name = spec.get("storageClassName")
    if name is not None and not isinstance(name, str):
        raise read.fail(f"{path}.storageClassName", "expected a string")
    return name or None


class ClaimStore:
    """Every StorageClass and claim of one local cluster, and the directories that hold the claims' data."""

    def __init__(self, state_dir: Path) -> None:
        self._state_dir = state_dir
        self.classes: dict[str, StorageClassSpec] = {DEFAULT_CLASS: StorageClassSpec(DEFAULT_CLASS, local=False)}
        self.claims: dict[tuple[str, str], LocalClaim] = {}

    def resolve_class(self, name: str | None, where: str) -> StorageClassSpec:
        if name is None:
            declared = [c for c in self.classes.values() if c.default]
            return declared[-1] if declared else self.classes[DEFAULT_CLASS]
        found = self.classes.get(name)
        if found is None:
            raise ManifestError(f"{where}: storageClassName {name!r}: no such StorageClass",
                                hint=f"declare the StorageClass in the manifests, or use {DEFAULT_CLASS!r} (the "
                                     "embedded cluster's default: network storage)")
        return found

    def add_claim(self, namespace: str, name: str, storage_class: StorageClassSpec, *, bare: bool) -> LocalClaim:
        """Create the claim if it does not exist yet (a StatefulSet's claim is found again by its name)."""
        claim = self.claims.get((namespace, name))
        if claim is None:
            claim = LocalClaim(namespace, name, storage_class.name, storage_class.local, bare=bare)
            if not claim.local:
                claim.directory = self._state_dir / "claims" / namespace / name
                claim.directory.mkdir(parents=True, exist_ok=True)
            self.claims[(namespace, name)] = claim
        return claim

    def remove_claim(self, namespace: str, name: str) -> None:
        """Delete a claim and its data (the reclaim policy ``Delete`` of dynamically provisioned volumes)."""
        claim = self.claims.pop((namespace, name), None)
        if claim is not None and claim.directory is not None:
            shutil.rmtree(claim.directory, ignore_errors=True)

    def missing(self, namespace: str, volumes: tuple[VolumeSpec, ...], pod: str) -> list[str]:
        """Claims the pod's volumes name that do not exist."""
        return [v.claim_for(pod) for v in volumes
                if v.kind == "persistentVolumeClaim" and (namespace, v.claim_for(pod)) not in self.claims]

    def pinned_node(self, namespace: str, volumes: tuple[VolumeSpec, ...], pod: str) -> tuple[str | None, str]:
        """(the node the pod must run on because of a provisioned local volume, and which claim), or (None, "")."""
        for volume in volumes:
            claim = self.claims.get((namespace, volume.claim_for(pod))) if volume.kind == "persistentVolumeClaim" \
                else None
            if claim is not None and claim.local and claim.node is not None:
                return claim.node, claim.name
        return None, ""

    def attach(self, namespace: str, volumes: tuple[VolumeSpec, ...], pod: str, node: str,
               node_root: Path) -> dict[str, Path]:
        """The pod is scheduled on ``node``: provision its local volumes there; volume name -> data directory."""
        found = {}
        for volume in volumes:
            if volume.kind != "persistentVolumeClaim":
                continue
            claim = self.claims[(namespace, volume.claim_for(pod))]
            if claim.directory is None:
                claim.node = node
                claim.directory = node_root / "var" / "local-path-provisioner" / f"{namespace}_{claim.name}"
                claim.directory.mkdir(parents=True, exist_ok=True)
            found[volume.name] = claim.directory
        return found
