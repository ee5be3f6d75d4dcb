"""node-failure through the CLI: it needs --allow-node-failure, refuses clusters it must not fail a node of
(exit 2, nothing applied), and brings the node back when the run is interrupted (SIGINT, exit 130)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.support import children_of, reap_zombies

pytestmark = pytest.mark.local
EXPERIMENTS = Path(__file__).parent / "experiments"
EXPERIMENT = (EXPERIMENTS / "node-failure.yaml").read_text(encoding="utf-8")


def _chaoskit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit.cli", "run", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    assert EXPERIMENT.count(old) == 1
    (tmp_path / "failing-node.manifest.yaml").write_text(
        (EXPERIMENTS / "failing-node.manifest.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "node-failure.yaml"
    path.write_text(EXPERIMENT.replace(old, new), encoding="utf-8")
    return path


def test_without_the_opt_in_nothing_starts(tmp_path: Path) -> None:
    result = _chaoskit(str(EXPERIMENTS / "node-failure.yaml"), "--out", str(tmp_path / "runs"))
    assert result.returncode == 2, result.stderr
    assert "power-off fails a node without a drain; that needs --allow-node-failure" in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("old", "new", "message"), [
    ("cluster: {node_monitor_grace: 2s}", "cluster: {node_monitor_grace: 2s, nodes: 1}",
     "node-failure: the cluster has 1 node(s); the failed node's pods would have nowhere to go"),
    ("node: node-of-victim", "node: node-9", "node-failure: node node-9 is not in the cluster"),
])
@pytest.mark.usefixtures("orphan_reaper")
def test_a_cluster_it_must_not_fail_a_node_of_is_refused_before_anything_is_applied(
        tmp_path: Path, old: str, new: str, message: str) -> None:
    result = _chaoskit(str(_variant(tmp_path, old, new)), "--allow-node-failure", "--out", str(tmp_path / "runs"))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "hint:" in result.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "bad input leaves no half-written run behind"
    reap_zombies()
    assert children_of(os.getpid()) == []


@pytest.mark.slow
@pytest.mark.usefixtures("orphan_reaper")
def test_sigint_while_a_node_is_down_brings_it_back_and_exits_130(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "chaoskit.cli", "run", str(EXPERIMENTS / "node-failure.yaml"),
               "--allow-node-failure", "--out", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the non-TTY view prints one line per phase
            if line.strip().endswith(": chaos"):
                break
        time.sleep(4)  # the node fails 1 s into chaos and turns NotReady 2 s later
        process.send_signal(signal.SIGINT)
        rest = process.stdout.read()
        assert process.wait(timeout=60) == 130, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    run_dir = next(tmp_path.iterdir())
    events = pd.read_parquet(run_dir / "events.parquet")
    begun = events[events["kind"] == "fault_begin"]
    assert len(begun) >= 1, "the node had not failed: the test stopped too early"
    node, failed_ns = begun["node"].iloc[0], begun["ts_ns"].iloc[0]
    not_ready = events[(events["kind"] == "node_not_ready") & (events["name"] == node)]
    back = events[(events["kind"] == "node_ready") & (events["name"] == node) & (events["ts_ns"] > failed_ns)]
    assert len(not_ready) == 1 and len(back) == 1, "the node came back on the abort path"
    assert back["ts_ns"].iloc[0] > not_ready["ts_ns"].iloc[0]
    reap_zombies()
    assert children_of(os.getpid()) == []
