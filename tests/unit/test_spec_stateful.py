"""Validate errors of node-failure faults and of data checks on StatefulSet volumes: message, hint, position."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaoskit.cli.app import app
from chaoskit.experiment import SpecError, SpecIssue
from chaoskit.faults.node_failure import NodeFailure
from chaoskit.kinds import load_text
from tests.unit.test_spec_helpers import where

pytestmark = pytest.mark.unit

STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: demo-ns}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: db
          image: httpd
          volumeMounts: [{name: data, mountPath: /data}, {name: scratch, mountPath: /scratch}]
      volumes: [{name: scratch, emptyDir: {}}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: demo-ns}
spec: {selector: {app: db}, ports: [{port: 80}]}
"""

EXPERIMENT = """\
name: stateful
description: A StatefulSet under a node failure.
target:
  namespace: demo-ns
  manifests: [db.yaml]
  selector: {app: db}
load:
  rate: 10
  services: [{name: db, types: [ClusterIP]}]
phases: {baseline: 1s, chaos: 10s, recovery: 10s}
faults:
  - kind: node-failure
    schedule: {at: 1s}
    mode: stop
    duration: 8s
data:
  - volume: data
    volume_type: persistentVolumeClaim
    expect: {after_pod_replaced_other_node: survives}
  - volume: scratch
"""


def _errors(tmp_path: Path, text: str, manifest: str = STATEFULSET) -> list[SpecIssue]:
    (tmp_path / "db.yaml").write_text(manifest, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_text(text, str(tmp_path / "exp.yaml"), base_dir=tmp_path)
    return list(caught.value.issues)


def _only(tmp_path: Path, text: str, manifest: str = STATEFULSET) -> SpecIssue:
    issues = _errors(tmp_path, text, manifest)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_the_fixture_is_valid_and_reads_the_node_failure(tmp_path: Path) -> None:
    (tmp_path / "db.yaml").write_text(STATEFULSET, encoding="utf-8")
    spec = load_text(EXPERIMENT, str(tmp_path / "exp.yaml"), base_dir=tmp_path)
    (fault,) = spec.faults
    assert isinstance(fault, NodeFailure)
    assert (fault.mode, fault.duration, fault.node.of_victim) == ("stop", 8.0, True)
    assert spec.data[0].volume_type == "persistentVolumeClaim"
    assert spec.target.cluster.node_monitor_grace == 40.0  # Kubernetes' default unless the experiment says


def test_node_failure_without_duration(tmp_path: Path) -> None:
    text = EXPERIMENT.replace("    duration: 8s\n", "")
    issue = _only(tmp_path, text)
    assert issue.message == "faults[0]: missing required key 'duration'"
    assert "comes back by itself" in issue.hint
    assert (issue.line, issue.column) == where(text, "kind: node-failure")  # the fault entry that lacks it


def test_node_failure_unknown_mode(tmp_path: Path) -> None:
    text = EXPERIMENT.replace("mode: stop", "mode: reboot")
    issue = _only(tmp_path, text)
    assert issue.message.startswith("faults[0].mode: Input should be 'stop' or 'partition'")
    assert (issue.line, issue.column) == where(text, "reboot")


def test_node_failure_outlasting_the_run(tmp_path: Path) -> None:
    text = EXPERIMENT.replace("duration: 8s", "duration: 25s")
    issue = _only(tmp_path, text)
    assert issue.message == ("faults[0].duration: the fault is still in effect 26 s after chaos starts, but chaos "
                             "and recovery end after 20 s")
    assert "lengthen phases.recovery" in issue.hint
    assert (issue.line, issue.column) == where(text, "25s")


def test_pvc_check_on_a_volume_that_is_not_a_pvc(tmp_path: Path) -> None:
    text = EXPERIMENT.replace("  - volume: scratch\n", "  - volume: scratch\n    volume_type: persistentVolumeClaim\n")
    issue = _only(tmp_path, text)
    assert issue.message == "data[1].volume_type: volume 'scratch' is an emptyDir, not a persistentVolumeClaim"
    assert "set it to emptyDir" in issue.hint
    assert (issue.line, issue.column) == where(text, "scratch\n    volume_type: persistentVolumeClaim",
                                               skip=len("scratch\n    volume_type: "))


def test_statefulset_without_claim_templates_for_a_checked_claim_volume(tmp_path: Path) -> None:
    manifest = STATEFULSET.replace("""  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
""", "")
    issue = _only(tmp_path, EXPERIMENT, manifest)
    assert issue.message == ("data[0].volume: volume 'data' is not declared: container 'db' mounts it, but "
                             "StatefulSet 'db' has no volumeClaimTemplates (and no volume of that name)")
    assert "add a volumeClaimTemplates entry with metadata.name: data" in issue.hint
    assert (issue.line, issue.column) == where(EXPERIMENT, "data\n    volume_type")


def test_validate_prints_the_opt_in_and_the_multi_container_notice(tmp_path: Path) -> None:
    sidecar = STATEFULSET.replace("      volumes: [{name: scratch", "        - {name: proxy, image: envoy}\n"
                                                                    "      volumes: [{name: scratch")
    (tmp_path / "db.yaml").write_text(sidecar, encoding="utf-8")
    (tmp_path / "exp.yaml").write_text(EXPERIMENT, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "exp.yaml")])
    assert result.exit_code == 0, result.output
    notices = [line for line in result.stdout.splitlines() if line.startswith("  notice:")]
    assert notices[0] == ("  notice: node-failure-0: node-failure runs only with `chaoskit run --allow-node-failure` "
                          "(it fails a node without a drain)")
    assert "StatefulSet db: its pods have 2 containers (db, proxy)" in notices[1]
    assert "localhost" in notices[1] and "--backend kube" in notices[1]
