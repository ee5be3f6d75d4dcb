"""SIGINT mid-chaos: every fault is undone, partial results are saved and marked aborted, exit code 130."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.support import children_of, in_chaos, interrupt_when, reap_zombies

pytestmark = [pytest.mark.local, pytest.mark.slow]


@pytest.mark.usefixtures("orphan_reaper")
def test_sigint_during_a_drain_uncordons_saves_and_exits_130(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "chaoskit.cli", "run", "node-drain", "--baseline", "1s", "--chaos", "20s",
               "--recovery", "5s", "--out", str(tmp_path)]
    interrupt_when(command, in_chaos, after_s=4, cwd=Path(__file__).resolve().parents[2])  # drain at chaos+2 s
    run_dir = next(tmp_path.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["aborted"] is True
    assert summary["verdict"]["passed"] is False
    events = pd.read_parquet(run_dir / "events.parquet")
    cordoned = events[events["kind"] == "node_cordoned"]
    uncordoned = events[events["kind"] == "node_uncordoned"]
    assert len(cordoned) == 1, "the drain had not started: the test stopped too early"
    assert list(uncordoned["name"]) == list(cordoned["name"])
    assert uncordoned["ts_ns"].iloc[0] > cordoned["ts_ns"].iloc[0]
    assert (run_dir / "requests.parquet").is_file() and (run_dir / "report.md").is_file()
    reap_zombies()
    assert children_of(os.getpid()) == []
