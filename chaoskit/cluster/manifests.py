"""Reading Kubernetes YAML files into manifests that remember where they came from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from chaoskit.cluster.protocol import ManifestError
from chaoskit.vocab import CLUSTER_SCOPED_KINDS


class SourcedManifest(dict[str, Any]):
    """A manifest (plain dict) plus the file and document it came from, for error messages."""

    source: str = "<memory>"

    @classmethod
    def of(cls, data: Mapping[str, Any], source: str) -> SourcedManifest:
        manifest = cls(data)
        manifest.source = source
        return manifest


def describe(manifest: Mapping[str, Any]) -> str:
    """`file: Kind namespace/name` — how errors name an object."""
    source = getattr(manifest, "source", "<memory>")
    meta = manifest.get("metadata") or {}
    name = meta.get("name", "?") if isinstance(meta, Mapping) else "?"
    namespace = meta.get("namespace", "default") if isinstance(meta, Mapping) else "?"
    return f"{source}: {manifest.get('kind', '?')} {namespace}/{name}"


def manifest_paths(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their *.yaml / *.yml files, sorted (like `kubectl apply -f DIR`)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            files.append(path)
        else:
            raise ManifestError(f"{path}: no such manifest file or directory", hint="check the path")
    return files


def load_manifest_files(paths: Iterable[Path]) -> list[SourcedManifest]:
    """Every object in the given files/directories, in order; malformed YAML raises ManifestError."""
    manifests: list[SourcedManifest] = []
    for path in manifest_paths(paths):
        manifests.extend(load_manifest_text(path.read_text(encoding="utf-8"), str(path)))
    return manifests


def load_manifest_text(text: str, source: str) -> list[SourcedManifest]:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(f"{where}: malformed YAML: {problem}", hint="fix the YAML syntax") from exc
    manifests: list[SourcedManifest] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        where = f"{source}#{index + 1}"
        if not isinstance(document, Mapping) or "kind" not in document:
            raise ManifestError(
                f"{where}: not a Kubernetes object (no 'kind')",
                hint="each YAML document needs apiVersion, kind and metadata",
            )
        if document["kind"] == "List":
            manifests.extend(SourcedManifest.of(item, where) for item in document.get("items", []))
            continue
        manifests.append(SourcedManifest.of(document, where))
    return manifests


def namespace_of(manifest: Mapping[str, Any]) -> str | None:
    """``metadata.namespace`` as written (None when absent or empty, or for a cluster-scoped kind)."""
    if manifest.get("kind") in CLUSTER_SCOPED_KINDS:
        return None
    meta = manifest.get("metadata")
    value = meta.get("namespace") if isinstance(meta, Mapping) else None
    return str(value) if value else None


def in_namespace(manifests: Iterable[SourcedManifest], namespace: str) -> tuple[list[SourcedManifest], list[str]]:
    """``kubectl apply -n NAMESPACE`` semantics: namespaced objects without ``metadata.namespace`` get it.

    Returns the manifests (copies where changed) and the objects that were defaulted (for the report).
    An object in another namespace is left as it is: ``validate`` reports it before a run starts.
    """
    out: list[SourcedManifest] = []
    defaulted: list[str] = []
    for manifest in manifests:
        if manifest.get("kind") in CLUSTER_SCOPED_KINDS or namespace_of(manifest) is not None:
            out.append(manifest)
            continue
        meta = manifest.get("metadata")
        copy = SourcedManifest.of({**manifest, "metadata": {**(meta if isinstance(meta, Mapping) else {}),
                                                            "namespace": namespace}}, manifest.source)
        out.append(copy)
        defaulted.append(f"{manifest.get('kind', '?')} {(copy['metadata'].get('name') or '?')}")
    return out, defaulted
