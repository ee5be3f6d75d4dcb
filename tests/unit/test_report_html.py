"""report.html without a browser: self-contained, headline first, every chart present with its fault markers,
downsampled so a long run stays small. (tests/local/test_report_browser.py opens it in Chromium.)"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from chaoskit.report import html
from chaoskit.report.timeseries import MAX_BUCKETS, counts, make_grid, quantiles
from tests.reports_support import LOST_HOSTPATH, firings, synthetic_summary, write_run

pytestmark = pytest.mark.unit


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def _elements(text: str) -> list[tuple[str, dict[str, str]]]:
    parser = Elements()
    parser.feed(text)
    return parser.tags


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("runs"), outage_s=0.3, facts=firings())


def test_the_page_is_one_file_that_loads_nothing_from_elsewhere(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text()
    tags = _elements(text)
    assert not [t for t, a in tags if t in ("script", "link", "img", "iframe", "object")]
    refs = [v for _, a in tags for k, v in a.items() if k in ("src", "href") and not v.startswith("#")]
    assert refs == []
    assert not re.search(r"url\((?!#)", text), "a style or SVG reference outside the page"


def test_the_headline_comes_first_and_says_the_verdict(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    body = text.index("<body>")
    first = re.search(r"<h1>(.*?)</h1>", text[body:])
    assert first is not None and text.index("<h1>") > body
    assert first.group(1).startswith(f"{summary['verdict']['outcome']}: availability ClusterIP")
    assert 'data-outcome="FAIL"' in text[body:body + 200]


def test_every_chart_is_there_with_every_fault_marked(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    figures = [a for t, a in _elements(text) if t == "figure"]
    kinds = [f["data-kind"] for f in figures]
    assert kinds == ["timeline", "timeline", "latency", "latency", "recovery", "agent"]
    faults = {f["name"] for f in summary["recovery"]}
    assert len(faults) == 3
    for chart in re.findall(r"<svg .*?</svg>", text, flags=re.S):
        kind = re.search(r'data-chart="([a-z]+)', chart)
        assert kind is not None
        marked = re.findall(r'class="fault-marker" data-fault="([^"]+)"><title>', chart)
        if kind.group(1) in ("timeline", "latency", "agent"):
            assert sorted(marked) == sorted(faults), kind.group(1)
        assert "<path" in chart
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids)), "ids repeat across charts"


def test_each_chart_carries_its_definition(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text()
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", text, flags=re.S)
    assert len(captions) == 6 and all(len(c) > 80 for c in captions)
    assert "start of a failed request to the start of the next success" in text
    assert "## How to read this" not in text and "How to read this</h3>" in text  # report.md rendered, not raw


def test_the_data_matrix_shows_expected_against_observed(tmp_path: Path) -> None:
    summary, requests, events = synthetic_summary(data=[*synthetic_summary()[0].data, LOST_HOSTPATH])
    text = html.render(summary, requests, events, report_md="**x**\n\nbody")
    matrix = text[text.index('<section id="data">'):text.index('<section id="agent">')]
    assert matrix.count('class="bad"') == 1 and "NOT AS EXPECTED" in matrix
    assert matrix.count('class="good"') == 2
    assert "survived 0 of 1<br><small>expected: survives" in matrix


def test_a_long_run_is_drawn_in_at_most_max_buckets_and_no_request_is_lost() -> None:
    grid = make_grid(0, 3_600 * 10**9, origin_ns=0, finest_ms=100)  # an hour
    assert grid.count <= MAX_BUCKETS and grid.width_label == "5 s"
    rng = np.random.default_rng(1)
    times = rng.integers(0, 3_600 * 10**9, 100_000)
    codes = rng.integers(0, 3, 100_000)
    table = counts(grid, times, codes, 3)
    assert table.shape == (3, grid.count) and table.sum() == 100_000
    assert (table.sum(axis=1) == np.bincount(codes, minlength=3)).all()
    short = make_grid(0, 30 * 10**9, origin_ns=0, finest_ms=100)
    assert short.width_label == "100 ms" and short.count == 300


def test_per_bucket_quantiles_are_those_of_the_raw_values() -> None:
    grid = make_grid(0, 2 * 10**9, origin_ns=0, finest_ms=1000)
    times = np.array([0, 1, 2, 3, 10**9 + 5], dtype=np.int64)
    values = np.array([4.0, 1.0, 3.0, 2.0, 7.0])
    result = quantiles(grid, times, values, (0.5, 1.0))
    assert result[:, 0].tolist() == [2.5, 4.0]
    assert result[:, 1].tolist() == [7.0, 7.0]


def test_a_drawing_failure_still_leaves_a_page_that_says_so(run_dir: Path) -> None:
    summary, _, _ = synthetic_summary()
    page = html.failed(summary, ValueError("boom"))
    assert "ValueError: boom" in page and "chaoskit report RUN_DIR --html" in page
    assert page.index("<h1>PASS") < page.index("boom")
