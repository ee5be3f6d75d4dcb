"""Containers of a pod do not share `localhost` on the embedded cluster: a run with such a pod says so in its
notes (and `chaoskit validate` in a notice, tests/unit/test_spec_stateful.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.kinds import load_experiment
from tests.local.engine_support import EXPERIMENTS, run

pytestmark = pytest.mark.local
SIDECAR = """
        - name: sidecar
          image: envoyproxy/envoy:v1.30
"""


def test_a_pod_with_two_containers_is_noted_in_the_run(tmp_path: Path) -> None:
    manifest = (EXPERIMENTS / "single.manifest.yaml").read_text(encoding="utf-8")
    manifest = manifest.replace("    metadata: {labels: {app: single}}\n",
                                "    metadata:\n      labels: {app: single}\n"
                                "      annotations: {chaoskit.io/local-command.sidecar: 'sleep 600'}\n")
    manifest = manifest.replace("            periodSeconds: 30\n", "            periodSeconds: 30\n" + SIDECAR)
    (tmp_path / "single.manifest.yaml").write_text(manifest, encoding="utf-8")
    (tmp_path / "single.yaml").write_text((EXPERIMENTS / "single.yaml").read_text(encoding="utf-8"))
    summary, record = run(load_experiment(tmp_path / "single.yaml"), tmp_path / "runs")
    assert summary.overall("ClusterIP").requests > 0
    (note,) = [n for n in record.context.notes if "localhost" in n]
    assert "the pod template of single has 2 containers (web, sidecar)" in note
    assert "$POD_IP, or --backend kube" in note
    assert note in (record.run_dir / "report.md").read_text(encoding="utf-8")
