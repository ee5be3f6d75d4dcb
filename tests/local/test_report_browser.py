"""report.html in a real headless Chromium: it loads offline with no console error and no request, the headline
is on top, every chart is drawn, the fault markers are the faults of summary.json, and the screenshot is a
picture (not blank). A real run of the local cluster, through the CLI; the repeat and compare pages too."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.browser import CHROMIUM, Chromium, chromium, evaluate, open_page, screenshot
from tests.reports_support import write_series

# CI installs chromium (.ci/run runs scripts/install-system-deps): there a missing browser fails, never skips.
pytestmark = [pytest.mark.local, pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed: scripts/install-system-deps installs Debian's chromium")]
ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "tests" / "local" / "experiments" / "report-pod-delete.yaml"
MIN_COLOURS = 40
"""A blank or text-only page has a handful of colours; charts with shaded phases and outcomes have hundreds."""

CHARTS_JS = """(() => [...document.querySelectorAll('figure.chart')].map(f => {
  const svg = f.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {kind: f.dataset.kind, id: f.id, width: box.width, height: box.height,
          drawn: svg ? svg.querySelectorAll('path, use, text').length : 0, top: f.getBoundingClientRect().top,
          faults: svg ? [...svg.querySelectorAll('g.fault-marker')].map(g => g.dataset.fault) : [],
          painted: svg ? [...svg.querySelectorAll('g.fault-marker path')].filter(
            p => p.getBoundingClientRect().height > 10).length : 0};
}))()"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    done = subprocess.run([sys.executable, "-m", "chaoskit.cli", "run", str(EXPERIMENT), "--out", str(out), "-q",
                           "--seed", "3"], check=False, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode in (0, 1, 4), done.stdout + done.stderr
    (found,) = out.iterdir()
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with chromium() as b:
        yield b


def _colours(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 24) or [])


def test_the_run_report_draws_every_chart_and_marks_every_fault(run_dir: Path, browser: Chromium) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    page_url = (run_dir / "report.html").as_uri()
    session, page = open_page(browser, page_url)
    assert page.console_errors == []
    assert page.requests == [page_url], "the page loaded something besides itself"
    charts = evaluate(browser, session, CHARTS_JS)
    addresses = {t["target"] for t in summary["by_target"]}
    kinds = [c["kind"] for c in charts]
    assert kinds.count("timeline") == len(addresses) >= 2
    assert kinds.count("latency") == len(summary["slo_p99_ms"]) == 2
    assert kinds.count("recovery") == 1 and kinds.count("agent") == 1
    faults = sorted(f["name"] for f in summary["recovery"])
    assert len(faults) == 2, "the experiment fires twice"
    for chart in charts:
        assert chart["width"] > 500 and chart["height"] > 100, chart["id"]
        assert chart["drawn"] > 30, chart["id"]
        if chart["kind"] in ("timeline", "latency", "agent"):
            assert sorted(chart["faults"]) == faults, chart["id"]
            assert chart["painted"] == len(faults), f"{chart['id']}: a fault marker is not drawn"
    header = evaluate(browser, session, "(() => { const h = document.querySelector('body > *');"
                                        " return {id: h.id, text: h.querySelector('h1').textContent,"
                                        " top: h.getBoundingClientRect().top}; })()")
    assert header["id"] == "headline"
    assert header["top"] < min(c["top"] for c in charts)
    first_line = (run_dir / "report.md").read_text().split("\n", 1)[0].strip("*")
    assert header["text"] == first_line
    assert _colours(screenshot(browser, session)) > MIN_COLOURS


def test_the_series_and_compare_pages_draw_in_the_browser(tmp_path: Path, browser: Chromium) -> None:
    base = write_series(tmp_path / "base", [0.03, 0.05, 0.04])
    candidate = write_series(tmp_path / "candidate", [0.3, 0.25, 0.35])
    out = tmp_path / "compare.html"
    done = subprocess.run([sys.executable, "-m", "chaoskit.cli", "compare", str(base), str(candidate), "--html",
                           str(out), "--fail-on-regression", "10"], check=False, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 1, done.stdout + done.stderr
    for path, kind, least in ((base / "report.html", "repeats", 2), (out, "compare", 2)):
        session, page = open_page(browser, path.as_uri())
        assert page.console_errors == [] and page.requests == [path.as_uri()]
        charts = [c for c in evaluate(browser, session, CHARTS_JS) if c["kind"] == kind]
        assert len(charts) >= least and all(c["width"] > 500 and c["drawn"] > 10 for c in charts)
        assert _colours(screenshot(browser, session)) > MIN_COLOURS
    links = evaluate(browser, session := open_page(browser, (base / "report.html").as_uri())[0],
                     "[...document.querySelectorAll('#runs a')].map(a => a.href)")
    assert len(links) == 3 and all(Path(link.removeprefix("file://")).is_file() for link in links)
