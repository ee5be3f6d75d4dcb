"""Run directories read back: `chaoskit report` checks what it renders, `chaoskit list --runs` says what ran,
and a run directory is marked incomplete until its files are saved."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaoskit import kinds
from chaoskit.analysis import SloTargets, summarize
from chaoskit.analysis.summary import SCHEMA_VERSION
from chaoskit.analysis.synthetic import PodDeleteScript, events_frame, pod_delete_events, synthetic_requests
from chaoskit.cli.app import app
from chaoskit.engine.record import RunContext, RunRecord
from chaoskit.engine.rundir import INCOMPLETE, RunDir, RunDirState, inspect, scan
from chaoskit.engine.save import save_run
from chaoskit.owner import Owner
from tests.reports_support import store_requests

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
PHASES = [("baseline", 2.0), ("chaos", 4.0), ("recovery", 2.0)]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run directory as `chaoskit run` saves it (synthetic measurements, the shipped experiment)."""
    requests = synthetic_requests(duration_s=8, rate=20)
    events = events_frame(pod_delete_events(PodDeleteScript((3.0,), replacement_ready_s=1.0), phases=PHASES))
    summary = summarize(requests, events, [], SloTargets(availability=0.99), experiment="pod-recreate",
                        backend="local", run_id="r1", aborted=False, agent=None)
    run = RunDir(tmp_path_factory.mktemp("runs"), "pod-recreate")
    assert not run.complete and (run.path / INCOMPLETE).is_file()  # marked from its first instant
    spec = kinds.load_experiment(ROOT / "experiments" / "pod-recreate.yaml")
    stored = store_requests(run.path, requests)
    save_run(RunRecord(run.path, spec, stored, events, summary, RunContext(load="20 req/s")), run)
    assert run.complete
    return run.path


@pytest.fixture
def run_dir(saved: Path, tmp_path: Path) -> Path:
    copy = tmp_path / saved.name
    shutil.copytree(saved, copy)
    return copy


def report(path: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", str(path), *extra])
    return result.exit_code, result.stdout, result.stderr


def test_a_sound_run_directory_renders_without_warnings(run_dir: Path) -> None:
    code, stdout, stderr = report(run_dir, "--markdown")
    assert (code, stderr) == (0, "")
    assert "Warning" not in stdout
    assert stdout.startswith("**PASS: ") and "\n# chaoskit report: pod-recreate" in stdout


@pytest.mark.parametrize(("damage", "said"), [
    ("missing", "requests.parquet: missing"),
    ("truncated", "requests.parquet: not a readable parquet file"),
    ("random", "requests.parquet: not a readable parquet file"),
    ("rows", "requests.parquet: holds 10 rows, summary.json counted 320 requests"),
    ("columns", "requests.parquet: lacks columns latency_ns, ok"),
])
def test_a_damaged_requests_table_is_said_in_the_warning_and_at_the_top(run_dir: Path, damage: str,
                                                                         said: str) -> None:
    import pandas as pd

    table = run_dir / "requests.parquet"
    if damage == "missing":
        table.unlink()
    elif damage == "truncated":
        table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])
    elif damage == "random":
        table.write_bytes(os.urandom(4096))
    elif damage == "rows":
        pd.read_parquet(table).head(10).to_parquet(table, index=False)
    else:
        pd.read_parquet(table).drop(columns=["latency_ns", "ok"]).to_parquet(table, index=False)
    code, stdout, stderr = report(run_dir, "--markdown", "--write")
    assert code == 0
    assert stderr.startswith(f"warning: {said}")
    assert "the report is rendered from summary.json alone" in stderr
    lines = stdout.splitlines()
    assert lines[0].startswith("**PASS: ")  # the verdict headline, from summary.json
    assert lines[2].startswith(f"> **Warning:** {said}")
    assert (run_dir / "report.md").read_text().splitlines()[2] == lines[2]  # --write keeps the warning


def test_a_missing_events_table_is_said_too(run_dir: Path) -> None:
    (run_dir / "events.parquet").unlink()
    code, _, stderr = report(run_dir)
    assert code == 0
    assert stderr.startswith("warning: events.parquet: missing")


def test_an_unknown_schema_version_is_exit_2_naming_the_versions_read(run_dir: Path) -> None:
    document = json.loads((run_dir / "summary.json").read_text())
    document["schema_version"] = 99
    (run_dir / "summary.json").write_text(json.dumps(document))
    code, stdout, stderr = report(run_dir)
    assert (code, stdout) == (2, "")
    assert stderr.splitlines()[0] == (f"error: {run_dir / 'summary.json'}: schema_version 99 is not one this "
                                      f"chaoskit reads (it reads {SCHEMA_VERSION})")


@pytest.mark.parametrize("text", ["{", "[]", '{"schema_version": ' + str(SCHEMA_VERSION) + "}", "[" * 100_000])
def test_an_unreadable_summary_is_exit_2(run_dir: Path, text: str) -> None:
    (run_dir / "summary.json").write_text(text)
    code, _, stderr = report(run_dir)
    assert code == 2
    assert stderr.startswith(f"error: {run_dir / 'summary.json'}: ")
    assert "hint:" in stderr


def test_a_crashed_run_directory_is_named_so(tmp_path: Path) -> None:
    run = RunDir(tmp_path, "pod-recreate")
    (run.path / INCOMPLETE).write_text(Owner(2**22 + 7, 1, Owner.current().host).to_json())  # no such process
    code, _, stderr = report(run.path)
    assert code == 2
    assert stderr.splitlines()[0] == f"error: {run.path}: incomplete (crashed run): no summary.json"
    listed = CliRunner().invoke(app, ["list", "--runs", "--out", str(tmp_path)])
    assert listed.stdout.split() == [run.path.name, "incomplete", "(crashed", "run)"]


def test_a_running_run_directory_is_told_apart_from_a_crashed_one(tmp_path: Path) -> None:
    run = RunDir(tmp_path, "pod-recreate")  # its owner is this process, alive
    assert inspect(run.path).state is RunDirState.RUNNING
    code, _, stderr = report(run.path)
    assert code == 2
    assert "incomplete (running): no summary.json" in stderr
    assert "wait for it to end" in stderr


def test_list_runs_gives_each_verdict(saved: Path) -> None:
    result = CliRunner().invoke(app, ["list", "--runs", "--out", str(saved.parent)])
    assert result.exit_code == 0
    assert result.stdout.split() == [saved.name, "PASS"]


def test_run_directories_never_share_a_name(tmp_path: Path) -> None:
    first, second = RunDir(tmp_path, "x"), RunDir(tmp_path, "x")
    assert first.path != second.path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.path.name, second.path.name])
    assert [f.path for f in scan(tmp_path)] == sorted([first.path, second.path])


def test_owner_identity_survives_pid_reuse() -> None:
    me = Owner.current()
    assert me.alive() is True
    assert Owner(me.pid, me.start + 1, me.host).alive() is False  # same pid, another process
    assert Owner(me.pid, me.start, "another-host").alive() is None
    assert Owner.from_json(me.to_json()) == me
    assert Owner.from_json("not json") is None


def test_a_huge_summary_is_refused_unread(run_dir: Path) -> None:
    with (run_dir / "summary.json").open("wb") as handle:
        handle.truncate(64 * 1024 * 1024 + 1)  # sparse
    code, _, stderr = report(run_dir)
    assert code == 2
    assert stderr.startswith(f"error: {run_dir / 'summary.json'}: 67,108,865 bytes, not a summary chaoskit wrote")


def test_list_runs_says_what_it_cannot_read_and_when_there_is_nothing(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "summary.json").write_text("{")
    listed = CliRunner().invoke(app, ["list", "--runs", "--out", str(run_dir.parent)])
    assert listed.stdout.startswith(f"{run_dir.name:<48} unreadable: {run_dir / 'summary.json'}: unreadable (")
    empty = CliRunner().invoke(app, ["list", "--runs", "--out", str(tmp_path / "none")])
    assert (empty.exit_code, empty.stdout) == (0, f"no run directories in {tmp_path / 'none'}\n")


def test_a_run_directory_of_another_host_is_left_to_that_host(tmp_path: Path) -> None:
    run = RunDir(tmp_path, "pod-recreate")
    (run.path / INCOMPLETE).write_text(Owner(1, 1, "elsewhere").to_json())
    assert inspect(run.path).state is RunDirState.UNKNOWN
    result = CliRunner().invoke(app, ["cleanup", "--out", str(tmp_path)])
    assert f"not checked: run directory {run.path} (its run is on host elsewhere)" in result.stdout
    assert run.path.exists()
