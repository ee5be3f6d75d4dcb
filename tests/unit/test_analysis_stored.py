"""requests.parquet analysed in passes gives exactly what the same table read whole gives: the summary (every
number, window, finding) and report.html, for runs with several addresses, unsent requests, outages, ns ties,
missing targets and row groups and chunks that do not line up."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from chaoskit.analysis import SloTargets, frames, summarize
from chaoskit.analysis.frames import AnalysisError
from chaoskit.analysis.stored import StoredTable
from chaoskit.analysis.synthetic import Outage, PodDeleteScript, events_frame, pod_delete_events, synthetic_requests
from chaoskit.engine.spool import RequestSpool
from chaoskit.load.records import STORED_COLUMNS
from chaoskit.report import html

pytestmark = pytest.mark.unit

PHASES = [("baseline", 2.0), ("chaos", 4.0), ("recovery", 2.0)]
TARGETS = ("10.96.0.10:80", "10.88.0.1:30080 (node-1)", "10.90.0.2:30080 (node-2)")


def _run(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = synthetic_requests(duration_s=8.0, rate=400, seed=seed, outages=[
        Outage("ClusterIP", 2.5, 3.2), Outage("NodePort", 4.0, 4.4)])
    n = len(frame)
    node = np.where(rng.random(n) < 0.5, TARGETS[1], TARGETS[2])
    frame["target"] = pd.Categorical(np.where(frame["service_type"] == "ClusterIP", TARGETS[0], node))
    if seed % 2:
        frame.loc[rng.random(n) < 0.01, "target"] = None  # rows without a recorded address
    frame["worker"] = pd.Categorical(rng.choice(["local/0", "local/1"], n))
    stray = rng.random(n) < 0.02
    frame.loc[stray, ["ok", "outcome", "status"]] = [False, "reset", 0]
    unsent = rng.random(n) < (0.03 if seed % 3 else 0.0)
    frame.loc[unsent, ["ok", "outcome", "status"]] = [False, "agent_saturated", 0]
    frame["start_ns"] = frame["start_ns"] // 1_000_000 * 1_000_000  # a 1 ms clock: ties in start
    return frame.iloc[rng.permutation(n)].reset_index(drop=True)[list(STORED_COLUMNS)]


def _stored(frame: pd.DataFrame, path: Path, group_rows: int) -> Path:
    spool = RequestSpool(path, row_group_rows=group_rows)
    for at in range(0, len(frame), 333):
        spool.append(frame.iloc[at:at + 333].reset_index(drop=True))
    return spool.finish().path


def _summary(requests: pd.DataFrame | StoredTable, events: pd.DataFrame) -> dict[str, object]:
    return summarize(requests, events, [], SloTargets(availability=0.999), experiment="e", backend="local",
                     run_id="r", aborted=False, agent=None).to_dict()


@pytest.mark.parametrize("seed", range(6))
def test_the_summary_in_passes_equals_the_summary_of_the_whole_table(
        seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames, "chunk_rows", 1_000 + 7 * seed)  # chunks straddle row groups
    frame = _run(seed)
    events = events_frame(pod_delete_events(PodDeleteScript((2.5, 4.0)), phases=PHASES))
    path = _stored(frame, tmp_path / "requests.parquet", group_rows=700 + 100 * seed)
    whole = StoredTable(path)  # the reference: the same file read whole, as the engine did before
    from chaoskit.engine.spool import StoredRequests

    expected = _summary(StoredRequests.at(path).frame(), events)
    got = _summary(whole, events)
    assert got == expected
    assert expected["requests"] == int((frame["outcome"] != "agent_saturated").sum())
    assert all(w["count"] > 1 for w in expected["windows"])  # outages and stray failures: many windows


def test_report_html_in_passes_equals_the_page_of_the_whole_table(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from chaoskit.analysis.summary import RunSummary
    from chaoskit.engine.spool import StoredRequests

    monkeypatch.setattr(frames, "chunk_rows", 1_500)
    frame = _run(5)  # unsent requests (the agent chart) and rows without an address
    events = events_frame(pod_delete_events(PodDeleteScript((2.5, 4.0)), phases=PHASES))
    path = _stored(frame, tmp_path / "requests.parquet", group_rows=900)
    summary = RunSummary.from_dict(_summary(StoredTable(path), events))
    pages = []
    for table in (StoredRequests.at(path).frame(), StoredTable(path)):
        with matplotlib.rc_context({"svg.hashsalt": "same ids"}):  # matplotlib's clip-path ids are random
            pages.append(html.render(summary, table, events, report_md="# r\n\nbody"))
    assert pages[0] == pages[1]
    assert pages[0].count("<svg") >= 4


def test_a_file_without_a_required_column_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "requests.parquet"
    synthetic_requests(duration_s=0.1, rate=100).drop(columns=["outcome"]).to_parquet(path)
    with pytest.raises(AnalysisError, match="outcome"):
        StoredTable(path)


def test_an_empty_run_in_passes_equals_the_empty_frame(tmp_path: Path) -> None:
    from chaoskit.engine.spool import StoredRequests

    path = _stored(_run(0).iloc[:0], tmp_path / "requests.parquet", group_rows=100)
    events = events_frame(pod_delete_events(PodDeleteScript(()), phases=PHASES))
    assert _summary(StoredTable(path), events) == _summary(StoredRequests.at(path).frame(), events)
