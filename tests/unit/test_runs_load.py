"""chaoskit.runs.load: a run or a series into DataFrames with stable columns, and docs/analysis.md's snippet."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import chaoskit.runs
from tests.reports_support import ROOT, write_run, write_series

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_series(tmp_path_factory.mktemp("series"), [0.03, 0.3, 0.05])


def test_a_series_loads_into_tables_with_the_documented_columns(series: Path) -> None:
    runs = chaoskit.runs.load(series)
    assert runs.kind == "repeat" and runs.aggregate is not None
    assert list(runs.runs.columns) == ["run_id", "experiment", "backend", "outcome", "aborted", "seed", "requests",
                                       "started_ns", "dir"]
    assert list(runs.runs["outcome"]) == ["PASS", "FAIL", "PASS"] and list(runs.runs["seed"]) == [1, 2, 3]
    assert list(runs.requests.columns) == ["run_id", "scheduled_ns", "start_ns", "latency_ns", "service",
                                           "service_type", "outcome", "status", "ok", "t_s"]
    assert len(runs.requests) == 3 * 6600
    assert list(runs.events.columns)[:2] == ["run_id", "ts_ns"] and runs.events.columns[-1] == "t_s"
    assert list(runs.recovery.columns) == ["run_id", "fault", "kind", "at_s", "victims", "failures",
                                           "replacement_scheduled", "replacement_ready", "endpoints_converged",
                                           "last_failure", "traffic_recovered", "recovery_s", "never_recovered"]
    assert len(runs.recovery) == 9 and runs.recovery["at_s"].tolist()[:3] == pytest.approx([11.0, 17.0, 23.0])
    assert list(runs.windows.columns) == ["run_id", "service_type", "address", "windows", "failed", "total_s",
                                          "longest_s", "open"]
    assert list(runs.availability.columns) == ["run_id", "service_type", "phase", "requests", "failed", "ratio"]
    assert list(runs.metrics.columns) == ["run_id", "metric", "scope", "value", "never"]
    failed = runs.availability.query("phase == 'all'").groupby("run_id")["failed"].sum()
    assert failed.tolist() == [18, 180, 30]  # 3 faults x 2 types x outage x 100 req/s


def test_one_run_loads_the_same_way(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path)
    runs = chaoskit.runs.load(run_dir)
    assert runs.kind == "run" and runs.aggregate is None and len(runs.runs) == 1
    assert set(runs.requests["run_id"]) == {run_dir.name}
    first_phase = runs.runs["started_ns"].iloc[0]
    assert runs.requests["t_s"].min() == pytest.approx((runs.requests["start_ns"].min() - first_phase) / 1e9)
    slim = chaoskit.runs.load(run_dir, tables=False)
    assert slim.requests.empty and len(slim.recovery) == 3


def test_what_is_not_a_run_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(chaoskit.runs.RunLoadError, match=r"no summary\.json here") as caught:
        chaoskit.runs.load(tmp_path)
    assert "chaoskit run" in caught.value.hint


def test_the_notebook_in_docs_runs(series: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "docs" / "analysis.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "docs/analysis.md lost its snippet"
    namespace: dict[str, object] = {"RUN_DIR": str(series)}
    for block in blocks:
        exec(compile(block, "docs/analysis.md", "exec"), namespace)
    per_second = namespace["per_second"]
    assert isinstance(per_second, pd.DataFrame) and "refused" in per_second.columns
    assert per_second["refused"].sum() == 18 + 180 + 30
    wide = namespace["wide"]
    assert isinstance(wide, pd.DataFrame) and len(wide) == 3
    printed = capsys.readouterr().out
    assert "pod-delete-0#0" in printed and "PASS" in printed
