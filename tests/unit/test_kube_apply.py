"""Manifest preparation for server-side apply: labels, order, namespaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from chaoskit.cluster.kube.apply import labelled, namespaces_of, ordered, ref_of
from chaoskit.cluster.kube.config import MANAGED_BY_LABEL, RUN_ID_LABEL
from chaoskit.cluster.protocol import ManifestError

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]


def manifests() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in ("target.yaml", "00-namespace.yaml"):
        out += [d for d in YAML(typ="safe").load_all((ROOT / "manifests" / name).read_text()) if d]
    return out


def test_labels_are_added_without_touching_the_input() -> None:
    source = manifests()
    objs = [labelled(m, run_id="r42") for m in source]
    assert all(o["metadata"]["labels"][RUN_ID_LABEL] == "r42" for o in objs)
    assert all(o["metadata"]["labels"][MANAGED_BY_LABEL] == "chaoskit" for o in objs)
    assert all(RUN_ID_LABEL not in (m["metadata"].get("labels") or {}) for m in source)
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    # Pod templates stay as written: a label there would restart every pod on each run.
    assert RUN_ID_LABEL not in deployment["spec"]["template"]["metadata"]["labels"]


def test_namespace_goes_first_and_namespaces_are_found() -> None:
    objs = ordered([labelled(m, run_id="r") for m in manifests()])
    assert objs[0]["kind"] == "Namespace"
    assert namespaces_of(objs) == {"chaoskit-demo"}
    assert ref_of(objs[1]).text == "Deployment/chaoskit-target in chaoskit-demo"


@pytest.mark.parametrize("bad", [{"kind": "Service", "metadata": {"name": "x"}},
                                 {"apiVersion": "v1", "kind": "Service", "metadata": {}}])
def test_incomplete_manifest_is_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ManifestError):
        labelled(bad, run_id="r")
