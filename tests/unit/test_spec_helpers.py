"""Shared text for the spec tests (no tests here): a small valid experiment and the manifest it points at."""

from __future__ import annotations

from pathlib import Path

from chaoskit.experiment import Experiment, SpecError
from chaoskit.kinds import load_text as load_experiment_text

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo, namespace: demo-ns}
spec:
  replicas: 2
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo, tier: web}}
    spec:
      containers: [{name: web, image: busybox}, {name: sidecar, image: busybox}]
      volumes: [{name: scratch, emptyDir: {}}, {name: node-data, hostPath: {path: /tmp/x}}]
---
apiVersion: v1
kind: Service
metadata: {name: demo, namespace: demo-ns}
spec: {selector: {app: demo}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: demo-np, namespace: demo-ns}
spec: {type: NodePort, selector: {app: demo}, ports: [{port: 80, nodePort: 30080}]}
---
apiVersion: v1
kind: Service
metadata: {name: demo-headless, namespace: demo-ns}
spec: {clusterIP: None, selector: {app: demo}, ports: [{port: 80}]}
"""

EXPERIMENT = """\
name: demo
description: A demo experiment.
target:
  namespace: demo-ns
  manifests: [target.yaml]
  selector: {app: demo}
load:
  rate: 10
  services:
    - name: demo
      types: [ClusterIP]
    - name: demo-np
      types: [NodePort]
phases:
  baseline: 1s
  chaos: 10s
  recovery: 2s
faults:
  - kind: pod-delete
    schedule: {at: 1s, every: 2s, times: 3}
data:
  - volume: scratch
    expect: {after_pod_replaced_same_node: lost}
slo:
  availability: 99%
"""


def write_manifest(directory: Path) -> Path:
    path = directory / "target.yaml"
    path.write_text(MANIFEST, encoding="utf-8")
    return path


def load(text: str, directory: Path) -> Experiment:
    """Validate ``text`` as if it were ``<directory>/exp.yaml`` next to the demo manifest."""
    write_manifest(directory)
    return load_experiment_text(text, str(directory / "exp.yaml"), base_dir=directory)


def errors(text: str, directory: Path) -> SpecError:
    """The SpecError ``text`` must raise (AssertionError if it validates)."""
    try:
        load(text, directory)
    except SpecError as err:
        return err
    raise AssertionError("expected a SpecError")


def where(text: str, needle: str, *, skip: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the first ``needle`` in ``text``, ``skip`` characters into it."""
    index = text.index(needle) + skip
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def edit(old: str, new: str, text: str = EXPERIMENT) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)
