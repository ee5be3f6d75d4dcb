"""Experiments without manifests (the target already runs) and Service ports, as bad input and good: each
refusal located, with a hint, exit 2, nothing left behind; `validate` says what it checks at run time."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaoskit.cli.app import app
from tests.unit.test_spec_helpers import EXPERIMENT, edit, errors, where, write_manifest

pytestmark = pytest.mark.unit

EXISTING = """\
name: checkout
description: Delete checkout pods one at a time.
target:
  namespace: shop
  workload: {kind: Deployment, name: checkout}
load:
  rate: 10
phases: {baseline: 1s, chaos: 10s, recovery: 2s}
faults:
  - kind: pod-delete
    schedule: {at: 1s}
data:
  - volume: cache
    path: chaoskit
"""


def test_validate_without_a_cluster_says_what_the_run_checks(tmp_path: Path) -> None:
    (tmp_path / "checkout.yaml").write_text(EXISTING)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "checkout.yaml")])
    assert result.exit_code == 0, result.output
    (notice,) = [line for line in result.stdout.splitlines() if line.startswith("  notice:")]
    assert "the target is what already runs in namespace shop: run it with --backend kube" in notice
    assert "Deployment checkout exists in namespace shop" in notice
    assert "Services whose selector matches the target's pods are found and loaded" in notice
    assert "the checked volumes (cache) are in the pods" in notice


@pytest.mark.parametrize(("old", "new", "message", "hint"), [
    ("  workload: {kind: Deployment, name: checkout}\n", "", "target.selector: the target's pods are not named",
     "set `selector` (pod labels), or `workload: {kind: Deployment, name: ...}`"),
    ("kind: Deployment, name: checkout", "kind: Deploymnet, name: checkout", "target.workload.kind: Input should be "
     "'Deployment', 'StatefulSet', 'ReplicaSet' or 'DaemonSet'", "did you mean 'Deployment'"),
    ("path: chaoskit", "path: ../etc", "data[0].path: path '../etc' has a '.' or '..' part",
     "give a directory below the mount path"),
    ("rate: 10\n", "rate: 10\n  services: [{name: web, types: [ClusterIP], port: 0}]\n",
     "load.services[0].port: port 0 is not a port number", "1 to 65535"),
    ("rate: 10\n", "rate: 10\n  services: [{name: web, types: [ClusterIP], port: HTTP}]\n",
     "load.services[0].port: port 'HTTP' is not a port name", "spec.ports[].name"),
])
def test_bad_targets_are_located(tmp_path: Path, old: str, new: str, message: str, hint: str) -> None:
    text = EXISTING.replace(old, new)
    assert text != EXISTING
    issue = errors(text, tmp_path).issues[0]
    assert issue.message.startswith(message), issue.message
    assert hint in issue.hint


def test_a_workload_next_to_manifests_is_refused(tmp_path: Path) -> None:
    text = edit("  selector: {app: demo}\n", "  workload: {kind: Deployment, name: demo}\n")
    issues = errors(text, tmp_path).issues
    assert [i.message for i in issues] == ["target.workload: workload names a running object, but manifests are given"]
    assert issues[0].line == where(text, "{kind: Deployment")[0]


def test_a_port_the_manifests_service_lacks_is_located(tmp_path: Path) -> None:
    text = edit("    - name: demo\n      types: [ClusterIP]\n", "    - name: demo\n      types: [ClusterIP]\n"
                "      port: grpc\n")
    (issue,) = errors(text, tmp_path).issues
    assert issue.message == "load.services[0].port: Service demo has no port named grpc"
    assert issue.hint.startswith("its ports: 80->80; set `port:`")
    assert issue.line == where(text, "grpc")[0]


def test_discovery_that_cannot_choose_a_port_is_refused_at_validate(tmp_path: Path) -> None:
    write_manifest(tmp_path)
    manifest = (tmp_path / "target.yaml").read_text().replace(
        "spec: {selector: {app: demo}, ports: [{port: 80}]}",
        "spec: {selector: {app: demo}, ports: [{name: grpc, port: 50051}, {name: admin, port: 9901}]}")
    text = EXPERIMENT[:EXPERIMENT.index("  services:")] + EXPERIMENT[EXPERIMENT.index("phases:"):]
    (tmp_path / "exp.yaml").write_text(text)
    (tmp_path / "target.yaml").write_text(manifest)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "exp.yaml")])
    assert result.exit_code == 2
    first, hint = result.stderr.splitlines()[:2]
    assert first.endswith("load: load.services is left out and Service demo has 2 ports and none looks like HTTP")
    assert "grpc 50051->50051, admin 9901->9901" in hint and "port:" in hint


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.mark.parametrize(("flags", "message", "hint"), [
    ([], "checkout: the experiment has no target.manifests, and the local backend has no workloads of its own",
     "run it on a real cluster (--backend kube), or give the embedded cluster manifests to apply: "
     "`chaoskit init --manifests FILE...`"),
    (["--backend", "kube", "--create-namespace"], "--create-namespace: checkout tests what already runs in "
     "namespace shop; chaoskit creates no namespace for it", "drop --create-namespace"),
])
def test_run_refuses_before_anything_starts(tmp_path: Path, temp: Path, flags: list[str], message: str,
                                            hint: str) -> None:
    (tmp_path / "checkout.yaml").write_text(EXISTING)
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", str(tmp_path / "checkout.yaml"), "--out", str(out), *flags])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: {message}"), lines
    assert hint in lines[1]
    assert not out.exists() and list(temp.iterdir()) == []
