"""Bad manifests: one line naming the file and object, exit code 2, no process left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import children_of, reap_zombies

pytestmark = pytest.mark.local
GOOD_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: chaoskit-demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: chaoskit-target}}
  template:
    metadata: {labels: {app: chaoskit-target}}
    spec:
      containers: [{name: httpd, image: IMAGE}]
"""
SERVICE = """
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: chaoskit-demo}
spec:
  type: TYPE
  selector: {app: SELECTOR}
  ports: [{port: 80, nodePort: 30111}]
"""


def _demo(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(textwrap.dedent(text))
    result = subprocess.run([sys.executable, "-m", "chaoskit.cli", "cluster", "demo", "--manifests", str(manifest)],
                            capture_output=True, text=True, timeout=60, check=False)
    reap_zombies()
    assert children_of(os.getpid()) == [], "a process was left behind"
    return result


def _service(kind: str = "NodePort", selector: str = "chaoskit-target", image: str = "httpd:2.4") -> str:
    return GOOD_DEPLOYMENT.replace("IMAGE", image) + SERVICE.replace("TYPE", kind).replace("SELECTOR", selector)


@pytest.mark.parametrize(("text", "expected"), [
    ("kind: Deployment\nmetadata: {name: x\n", "malformed YAML"),
    (_service(kind="ExternalName"), "Service chaoskit-demo/web: spec.type: unknown or unsupported Service type"),
    (_service(selector="nothing"), "Service chaoskit-demo/web: spec.selector {'app': 'nothing'} matches no pod"),
    (_service() + SERVICE.replace("TYPE", "NodePort").replace("SELECTOR", "chaoskit-target")
     .replace("name: web", "name: web2"), "nodePort 30111 is already allocated"),
    (_service(image="redis:7"), "Deployment chaoskit-demo/web: spec.template.spec.containers[0].image: image "
                                "'redis:7' has no local stand-in"),
])
@pytest.mark.usefixtures("orphan_reaper")
def test_bad_manifest_is_one_clear_line_and_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    result = _demo(tmp_path, text)
    assert result.returncode == 2, result.stderr
    first = result.stderr.splitlines()[0]
    assert str(tmp_path / "bad.yaml") in first
    assert expected in first
