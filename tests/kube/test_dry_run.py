"""`--dry-run` prints every change it would make and makes none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kube
ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


def test_dry_run_lists_changes_and_touches_nothing(kube_context: str, tmp_path: Path) -> None:
    manifest = tmp_path / "target.yaml"
    manifest.write_text((ROOT / "manifests" / "target.yaml").read_text().replace("chaoskit-demo", "chaoskit-dry-run"))
    experiment = tmp_path / "dry-run.yaml"
    experiment.write_text((ROOT / "experiments" / "pod-recreate.yaml").read_text()
                          .replace("../manifests/target.yaml", str(manifest))
                          .replace("namespace: chaoskit-demo", "namespace: chaoskit-dry-run"))
    result = _run("run", str(experiment), "--backend", "kube", "--context", kube_context, "--yes", "--dry-run",
                  "--create-namespace", "--load-from", "in-cluster")
    assert result.returncode == 0, result.stderr
    assert "ClusterIP load: from an in-cluster Job chaoskit-load-agent-<run id>" in result.stdout
    assert "PATCH /apis/apps/v1/namespaces/chaoskit-dry-run/deployments/chaoskit-target" in result.stdout
    assert "fault at chaos+2s: pod-delete" in result.stdout
    listed = subprocess.run([sys.executable, "-c", (
        "import sys; from kubernetes import client, config; config.load_kube_config(context=sys.argv[1]);"
        "print([n.metadata.name for n in client.CoreV1Api().list_namespace().items])"), kube_context],
        capture_output=True, text=True, timeout=60, check=True)
    assert "chaoskit-dry-run" not in listed.stdout


def test_dry_run_is_refused_for_the_local_backend() -> None:
    result = _run("run", "pod-recreate", "--dry-run")
    assert result.returncode == 2
    assert "--dry-run is for --backend kube" in result.stderr
