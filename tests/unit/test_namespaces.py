"""Namespaces as `kubectl apply -n target.namespace`: objects without one go there, another one is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.cluster.manifests import SourcedManifest, in_namespace
from chaoskit.experiment import Experiment, SpecError
from chaoskit.kinds import load_text
from tests.unit.test_spec_helpers import EXPERIMENT, MANIFEST

pytestmark = pytest.mark.unit


def _load(directory: Path, manifest: str) -> Experiment:
    (directory / "target.yaml").write_text(manifest, encoding="utf-8")
    return load_text(EXPERIMENT, str(directory / "exp.yaml"), base_dir=directory)


def test_objects_without_a_namespace_validate_against_the_target_namespace(tmp_path: Path) -> None:
    assert _load(tmp_path, MANIFEST.replace(", namespace: demo-ns", "")).target.namespace == "demo-ns"


def test_an_object_in_another_namespace_is_a_located_error_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        _load(tmp_path, MANIFEST.replace("{name: demo, namespace: demo-ns}", "{name: demo, namespace: other}", 1))
    (issue,) = caught.value.issues
    assert issue.message == ("target.manifests[0]: Deployment demo in target.yaml is in namespace other, "
                             "not the target's namespace demo-ns")
    assert "kubectl apply -n demo-ns" in issue.hint
    assert issue.line == 5  # the manifests entry in the experiment file


def test_defaulting_sets_only_namespaced_objects_without_one() -> None:
    objects = [
        SourcedManifest.of({"kind": "Deployment", "metadata": {"name": "a"}}, "f.yaml#1"),
        SourcedManifest.of({"kind": "Service", "metadata": {"name": "b", "namespace": "kept"}}, "f.yaml#2"),
        SourcedManifest.of({"kind": "ClusterRole", "metadata": {"name": "c"}}, "f.yaml#3"),
        SourcedManifest.of({"kind": "ConfigMap", "metadata": {"name": "d", "namespace": ""}}, "f.yaml#4"),
    ]
    out, defaulted = in_namespace(objects, "ns")
    assert [m["metadata"].get("namespace") for m in out] == ["ns", "kept", None, "ns"]
    assert defaulted == ["Deployment a", "ConfigMap d"]
    assert out[0].source == "f.yaml#1" and "namespace" not in objects[0]["metadata"]  # copies, sources kept
