"""A run that tested nothing is INCONCLUSIVE (exit 4), said on the first line, through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.local.engine_support import EXPERIMENTS

pytestmark = pytest.mark.local


def _chaoskit_run(tmp_path: Path, faults: str) -> subprocess.CompletedProcess[str]:
    text = (EXPERIMENTS / "single.yaml").read_text(encoding="utf-8").replace("faults: []", faults)
    (tmp_path / "single.manifest.yaml").write_text((EXPERIMENTS / "single.manifest.yaml").read_text())
    path = tmp_path / "exp.yaml"
    path.write_text(text.replace("rate: 200", "rate: 20"))
    command = [sys.executable, "-m", "chaoskit.cli", "run", str(path), "--out", str(tmp_path / "runs"), "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_a_fault_whose_selector_matches_no_pod_is_inconclusive(tmp_path: Path) -> None:
    done = _chaoskit_run(tmp_path, "faults:\n  - kind: pod-delete\n    target: {selector: {app: nobody}}\n"
                                   "    schedule: {at: 0.5s}")
    assert done.returncode == 4, done.stderr[-2000:]
    assert done.stdout.startswith("single: INCONCLUSIVE: fault pod-delete-0#1 (pod-delete) hit no pod"), done.stdout
    report = next((tmp_path / "runs").iterdir()) / "report.md"
    assert report.read_text().startswith("**INCONCLUSIVE: fault pod-delete-0#1 (pod-delete) hit no pod")


def test_draining_a_node_that_does_not_exist_is_inconclusive(tmp_path: Path) -> None:
    done = _chaoskit_run(tmp_path, "faults:\n  - kind: node-drain\n    node: no-such-node\n"
                                   "    schedule: {at: 0.5s}")
    assert done.returncode == 4, done.stderr[-2000:]
    assert "INCONCLUSIVE: fault node-drain-0#1 (node-drain)" in done.stdout, done.stdout


def test_a_workload_of_zero_replicas_is_bad_input_at_once_and_leaves_no_run(tmp_path: Path) -> None:
    (tmp_path / "single.manifest.yaml").write_text(
        (EXPERIMENTS / "single.manifest.yaml").read_text().replace("replicas: 1", "replicas: 0"))
    text = (EXPERIMENTS / "single.yaml").read_text().replace("  replicas: 1\n", "")
    (tmp_path / "exp.yaml").write_text(text)
    command = [sys.executable, "-m", "chaoskit.cli", "run", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "runs")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "the manifests ask for 0 pods matching app=single in chaoskit-test" in done.stderr
    assert not list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True
