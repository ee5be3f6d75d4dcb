"""The request spool: records stream to requests.parquet in row groups; the memory it holds is bounded by its
own accounting, whatever the run's length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from chaoskit.cli.app import app
from chaoskit.engine.rundir import INCOMPLETE, RunDir, RunDirState, inspect
from chaoskit.engine.spool import RequestSpool
from chaoskit.load.decode import RECORD_DTYPE, to_frame
from chaoskit.load.plan import LoadPlan, LoadTarget
from chaoskit.load.records import OUTCOME_LABELS, STORED_COLUMNS
from chaoskit.owner import Owner

pytestmark = pytest.mark.unit

PLAN = LoadPlan(targets=(LoadTarget("web", "ClusterIP", "127.62.0.1", 8080),
                         LoadTarget("api", "NodePort", "127.62.0.2", 30080, node="node-1")),
                rate=1000.0, duration_s=1.0, connection="keepalive", timeout_s=1.0)


def batch(start: int, n: int, *, worker: str) -> pd.DataFrame:
    arr = np.zeros(n, dtype=RECORD_DTYPE)
    arr["scheduled_ns"] = np.arange(start, start + n)
    arr["start_ns"] = arr["scheduled_ns"] + 7
    arr["latency_us"] = 250
    arr["service"] = np.arange(n) % 2
    arr["outcome"] = np.where(np.arange(n) % 10 == 0, 3, 0)
    arr["status"] = np.where(arr["outcome"] == 0, 200, 0)
    return to_frame(arr, PLAN, worker=worker)


def test_the_spool_never_holds_more_than_a_row_group_and_a_batch(tmp_path: Path) -> None:
    spool = RequestSpool(tmp_path / "requests.parquet", row_group_rows=1000)
    frames = []
    for i in range(300):  # 300 batches of 97: 29,100 requests
        frames.append(batch(i * 97, 97, worker=f"local/{i % 3}"))
        spool.append(frames[-1])
        assert spool.held < 1000
    stored = spool.finish()
    assert spool.max_held < 1000 + 97
    assert stored.rows == spool.rows == 29_100
    # A row group is written once 1,000 rows are held: every 11 batches (1,067 rows), and the rest at the end.
    assert pq.ParquetFile(stored.path).metadata.num_row_groups == -(-300 // 11) == 28
    back = stored.frame()
    expected = pd.concat(frames, ignore_index=True)
    assert list(back.columns) == list(STORED_COLUMNS)
    for column in STORED_COLUMNS:
        assert back[column].astype(str).tolist() == expected[column].astype(str).tolist(), column
    for column in ("service", "service_type", "target", "worker"):  # categories as the agents' frames have them
        assert list(back[column].cat.categories) == sorted(expected[column].astype(str).unique()), column
    assert list(back["outcome"].cat.categories) == list(OUTCOME_LABELS)
    assert not (tmp_path / ".requests.parquet.partial").exists()


def test_a_run_without_requests_still_leaves_the_table(tmp_path: Path) -> None:
    stored = RequestSpool(tmp_path / "requests.parquet").finish()
    frame = stored.frame()
    assert stored.rows == 0 and len(frame) == 0 and list(frame.columns) == list(STORED_COLUMNS)


def test_finish_is_idempotent_and_the_spool_is_closed_after(tmp_path: Path) -> None:
    spool = RequestSpool(tmp_path / "requests.parquet")
    spool.append(batch(0, 10, worker="local/0"))
    assert spool.finish() == spool.finish()
    with pytest.raises(RuntimeError, match="after the spool was finished"):
        spool.append(batch(10, 10, worker="local/0"))


def test_a_crashed_run_that_only_spooled_requests_holds_nothing_saved(tmp_path: Path) -> None:
    run = RunDir(tmp_path, "pod-recreate")
    (run.path / INCOMPLETE).write_text(Owner(2**22 + 7, 1, Owner.current().host).to_json())  # no such process
    spool = RequestSpool(run.path / "requests.parquet", row_group_rows=10)
    spool.append(batch(0, 30, worker="local/0"))  # row groups written, no footer: killed before the run ended
    assert [p.name for p in run.path.iterdir() if p.name != INCOMPLETE] == [".requests.parquet.partial"]
    found = inspect(run.path)
    assert (found.state, found.empty) == (RunDirState.CRASHED, True)
    result = CliRunner().invoke(app, ["cleanup", "--out", str(tmp_path)])
    assert result.exit_code == 0 and not run.path.exists()


def test_codes_are_one_byte_until_a_column_has_more_than_127_labels(tmp_path: Path) -> None:
    """200 workers, the second hundred first seen in a later row group: the worker codes widen to two bytes
    mid-read and every label still reads back; the other categoricals stay one byte a request."""
    spool = RequestSpool(tmp_path / "requests.parquet", row_group_rows=500)
    frames = [batch(i * 50, 50, worker=f"in-cluster/{i}") for i in range(200)]
    for frame in frames:
        spool.append(frame)
    back = spool.finish().frame()
    expected = pd.concat(frames, ignore_index=True)
    assert back["worker"].astype(str).tolist() == expected["worker"].astype(str).tolist()
    assert list(back["worker"].cat.categories) == sorted(expected["worker"].astype(str).unique())
    assert back["worker"].cat.codes.dtype == np.int16
    for column in ("service", "service_type", "outcome", "target"):
        assert back[column].cat.codes.dtype == np.int8, column
        assert back[column].astype(str).tolist() == expected[column].astype(str).tolist(), column
