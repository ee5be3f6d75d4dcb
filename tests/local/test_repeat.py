"""`chaoskit run NAME --repeat N` through the real CLI: fresh clusters and recorded seeds, the aggregate and its
JUnit, bad input, and SIGINT in the middle of a series (the finished runs kept, the aggregate marked aborted)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from junitparser import JUnitXml

from chaoskit.analysis.repeats import series_verdict
from tests.support import children_of, reap_zombies

pytestmark = pytest.mark.local
ROOT = Path(__file__).resolve().parents[2]
SINGLE = ROOT / "tests" / "local" / "experiments" / "single.yaml"
EXIT = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 4, "FLAKY": 5, "ABORTED": 130}


def _chaoskit(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaoskit.cli", *args], check=False, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.usefixtures("orphan_reaper")
def test_a_series_runs_each_time_on_a_fresh_cluster_and_aggregates(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    done = _chaoskit("run", str(SINGLE), "--repeat", "2", "--seed", "11", "--out", str(tmp_path / "runs"), "-q",
                     "--junit", str(junit))
    (series,) = (tmp_path / "runs").iterdir()
    assert series.name.endswith("-single-x2")
    aggregate = json.loads((series / "summary.json").read_text())
    runs = aggregate["runs"]
    assert [r["seed"] for r in runs] == [11, 12]
    summaries = [json.loads((series / r["dir"] / "summary.json").read_text()) for r in runs]
    assert [s["context"]["seed"] for s in summaries] == [11, 12]
    outcomes = [s["verdict"]["outcome"] for s in summaries]
    expected = series_verdict(outcomes, asked=2, interrupted=False)
    assert aggregate["verdict"]["outcome"] == expected.outcome
    assert aggregate["verdict"]["sentence"] == expected.sentence
    assert done.returncode == EXIT[expected.outcome], done.stdout + done.stderr
    assert done.stdout.strip() == f"single: {expected.sentence} ({series})"
    pods = []
    for r in runs:
        events = pd.read_parquet(series / r["dir"] / "events.parquet")
        pods.append(set(events.loc[events["kind"] == "pod_added", "name"]))
        assert (series / r["dir"] / "report.html").is_file()
    assert all(pods) and not pods[0] & pods[1], "the second run reused the first run's pods"
    for name in ("report.md", "report.html"):
        assert aggregate["verdict"]["sentence"] in (series / name).read_text()
    suites = list(JUnitXml.fromfile(str(junit)))
    assert [s.name for s in suites] == ["chaoskit.single.run1", "chaoskit.single.run2", "chaoskit.single.series"]
    reap_zombies()
    assert children_of(os.getpid()) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--repeat", "0"], "--repeat 0: must be between 1 and 100"),
    (["--repeat", "101"], "--repeat 101: must be between 1 and 100"),
    (["--repeat", "2", "--junit", "/nonexistent/dir/junit.xml"], "its directory does not exist"),
    (["--repeat", "2", "--metrics-port", "0"], "--repeat runs a series"),
])  # fmt: skip
def test_bad_repeat_flags_exit_2_and_create_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "runs"
    done = _chaoskit("run", str(SINGLE), "--out", str(out), *args, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.usefixtures("orphan_reaper")
def test_sigint_during_a_series_keeps_the_finished_runs_and_writes_an_aborted_aggregate(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "chaoskit.cli", "run", str(SINGLE), "--repeat", "3", "--out", str(out),
               "--chaos", "6s"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        second = False
        for line in process.stdout:  # the non-TTY view prints one line per run and per phase
            second = second or line.startswith("Run 2 of 3")
            if second and line.strip().endswith(": chaos"):
                break
        assert second, "the series never reached its second run"
        time.sleep(1)
        process.send_signal(signal.SIGINT)
        rest = process.stdout.read()
        assert process.wait(timeout=90) == 130, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    (series,) = out.iterdir()
    aggregate = json.loads((series / "summary.json").read_text())
    assert aggregate["verdict"]["outcome"] == "ABORTED"
    assert aggregate["verdict"]["asked"] == 3 and aggregate["verdict"]["runs"] == 2
    assert "interrupted after 1 of 3 runs" in aggregate["verdict"]["sentence"]
    first, second_run = (json.loads((series / r["dir"] / "summary.json").read_text()) for r in aggregate["runs"])
    assert first["aborted"] is False and second_run["aborted"] is True
    assert "ABORTED" in (series / "report.md").read_text()
    assert len([p for p in series.iterdir() if p.is_dir()]) == 2
    reap_zombies()
    assert children_of(os.getpid()) == []
