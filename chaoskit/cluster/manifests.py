"""Reading Kubernetes YAML files into manifests that remember where they came from.

Every file is checked against ``MANIFEST_LIMITS`` (size, nesting depth, aliases, size after alias expansion;
``chaoskit/yamllimits.py``) before it is built, so a hostile or broken file is a located ManifestError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from chaoskit.cluster.protocol import ManifestError
from chaoskit.vocab import CLUSTER_SCOPED_KINDS
from chaoskit.yamllimits import MANIFEST_LIMITS, YamlLimitError, check_byte_count, safe_load_all


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
        try:
            check_byte_count(path.stat().st_size, MANIFEST_LIMITS)  # before reading: it may be huge
            text = path.read_text(encoding="utf-8")
        except YamlLimitError as exc:
            raise ManifestError(f"{path}: {exc.message}", hint=exc.hint) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: cannot read: {exc}", hint="check the path; manifests are UTF-8") from None
        manifests.extend(load_manifest_text(text, str(path)))
    return manifests


def parse_documents(text: str, source: str) -> list[Any]:
    """The YAML documents of ``text``, within MANIFEST_LIMITS; every problem is a located ManifestError."""
    try:
        return safe_load_all(text, MANIFEST_LIMITS)
    except YamlLimitError as exc:
        raise ManifestError(exc.located(source), hint=exc.hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(f"{where}: malformed YAML: {problem}", hint="fix the YAML syntax") from None
    except (ValueError, OverflowError) as exc:  # a constructor's own error (bad date, int of 5,000 digits)
        problem = str(exc).split("; use sys.set_int_max_str_digits")[0]
        raise ManifestError(f"{source}: a YAML value cannot be read: {problem}",
                            hint="numbers and dates must be valid; quote a value to make it a string") from None


def load_manifest_text(text: str, source: str) -> list[SourcedManifest]:
    manifests: list[SourcedManifest] = []
    for index, document in enumerate(parse_documents(text, source)):
        if document is None:
            continue
        where = f"{source}#{index + 1}"
        if not isinstance(document, Mapping) or "kind" not in document:
            raise ManifestError(
                f"{where}: not a Kubernetes object (no 'kind')",
                hint="each YAML document needs apiVersion, kind and metadata",
            )
        if document["kind"] == "List":
            items = document.get("items") or []
            if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
                raise ManifestError(f"{where}: List.items must be a list of objects",
                                    hint="each item needs apiVersion, kind and metadata")
            manifests.extend(SourcedManifest.of(item, where) for item in items)
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
