"""Marker files are removed from every volume at the end of a run (the undo stack), and a load target that
answers with an HTTP error is bad input at once (exit 2), not a two-minute wait."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.engine.runner import Engine, RunOptions
from chaoskit.kinds import load_text
from tests.support import children_of, reap_zombies

pytestmark = pytest.mark.local
ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = """
name: markers
description: Two pod deletions and a container restart, with data checks on both volumes.
target:
  namespace: chaoskit-demo
  manifests: [{manifest}]
  selector: {{app: chaoskit-target}}
  replicas: 3
load:
  rate: 10
  path: {path}
  services:
    - {{name: chaoskit-target-nodeport, types: [NodePort]}}
phases: {{baseline: 0.5s, chaos: 4s, recovery: 0.5s}}
faults:
  - kind: pod-delete
    schedule: {{at: 0.2s, every: 1.5s, times: 2}}
  - kind: container-restart
    schedule: {{at: 0.5s}}
data:
  - volume: scratch
  - volume: node-data
"""


def spec_text(path: str = "/") -> str:
    return EXPERIMENT.format(manifest=ROOT / "manifests" / "target.yaml", path=path)


def test_every_marker_written_is_removed_by_the_end_of_the_run(tmp_path: Path) -> None:
    spec = load_text(spec_text(), str(tmp_path / "markers.yaml"))
    state = tmp_path / "state"  # given, so it outlives the cluster and can be searched afterwards
    state.mkdir()

    async def main() -> None:
        cluster = LocalCluster(LocalClusterConfig(state_dir=state), seed=3)
        engine = Engine(spec, cluster, options=RunOptions(out_dir=tmp_path / "runs", seed=3))
        record = await engine.run()
        written = record.events[(record.events["kind"] == "marker")
                                & record.events["detail"].str.startswith("written")]
        assert len(written) >= 4, "the data checks wrote no markers: the test proves nothing"
        assert not [n for n in record.context.notes if "marker" in n], record.context.notes

    asyncio.run(main())
    left = [p for p in state.rglob("chaoskit-marker-*")]
    assert left == []


@pytest.mark.usefixtures("orphan_reaper")
def test_a_target_that_answers_404_is_exit_2_at_once(tmp_path: Path) -> None:
    experiment = tmp_path / "wrong-path.yaml"
    experiment.write_text(spec_text("/nonexistent"))
    # The reachability wait gives up after 120 s: a run that waited for it would outlive this timeout.
    result = subprocess.run([sys.executable, "-m", "chaoskit.cli", "run", str(experiment), "--out",
                             str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True, timeout=110,
                            check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    line = next(x for x in result.stderr.splitlines() if x.startswith("error:"))
    assert line.startswith("error: NodePort chaoskit-target-nodeport at 127.")
    assert " answers HTTP 404 to GET http://127." in line and line.endswith("/nonexistent")
    assert "the path names a page the service does not serve" in result.stderr
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())  # nothing half-done left
    reap_zombies()
    assert children_of(os.getpid()) == []
