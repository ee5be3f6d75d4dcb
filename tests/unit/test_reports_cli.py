"""`chaoskit compare` and `chaoskit report --html` on saved runs (no cluster): output, exit codes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaoskit.cli.app import app
from tests.reports_support import firings, write_run, write_series

pytestmark = pytest.mark.unit
runner = CliRunner()


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("series")
    return write_series(root / "base", [0.03, 0.05, 0.04, 0.04]), write_series(root / "cand", [0.3, 0.25, 0.35, 0.3])


def test_compare_series_finds_the_regression_with_confidence(series: tuple[Path, Path], tmp_path: Path) -> None:
    base, candidate = series
    out = tmp_path / "compare.html"
    result = runner.invoke(app, ["compare", str(base), str(candidate), "--fail-on-regression", "50", "--markdown",
                                 "--html", str(out)])
    assert result.exit_code == 1, result.output
    text = result.output
    assert text.startswith("**REGRESSION: Availability · ClusterIP +")
    row = next(line for line in text.splitlines() if line.startswith("| Longest window | ClusterIP |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    base_s, cand_s, diff_s = (float(c.removesuffix(" s")) for c in cells[2:5])
    assert base_s == pytest.approx(0.04, abs=0.005) and cand_s == pytest.approx(0.30, abs=0.01)
    assert diff_s == pytest.approx(cand_s - base_s, abs=0.002)
    assert cells[5].startswith("[+0.2") and cells[7] == "yes" and cells[8] == "yes"
    assert out.is_file() and "REGRESSION" in out.read_text()
    same = runner.invoke(app, ["compare", str(base), str(base), "--fail-on-regression", "50"])
    assert same.exit_code == 0, same.output
    assert "NO REGRESSION beyond 50%" in same.output


def test_compare_two_single_runs_says_no_interval_can_be_computed(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", outage_s=0.03, facts=firings())
    candidate = write_run(tmp_path / "b", outage_s=0.3, facts=firings())
    result = runner.invoke(app, ["compare", str(base), str(candidate), "--markdown"])
    assert result.exit_code == 0, result.output
    assert "no confidence interval can be computed" in result.output
    assert "no interval (1 run)" in result.output
    gate = runner.invoke(app, ["compare", str(base), str(candidate), "--markdown", "--fail-on-regression", "10"])
    assert gate.exit_code == 1 and "yes (unconfirmed)" in gate.output


def test_compare_refuses_runs_of_different_experiments_or_schemas(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", facts=firings())
    other = write_run(tmp_path / "b", experiment="node-drain", facts=firings())
    result = runner.invoke(app, ["compare", str(base), str(other)])
    assert result.exit_code == 2
    assert "experiment: base pod-recreate vs candidate node-drain" in result.output
    summary = json.loads((other / "summary.json").read_text())
    summary["schema_version"] = 1
    (other / "summary.json").write_text(json.dumps(summary))
    old = runner.invoke(app, ["compare", str(base), str(other)])
    assert old.exit_code == 2 and "schema_version 1" in old.output
    missing = runner.invoke(app, ["compare", str(base), str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no summary.json here" in missing.output


def test_report_html_draws_the_page_again_for_a_run_and_a_series(tmp_path: Path,
                                                                  series: tuple[Path, Path]) -> None:
    run_dir = write_run(tmp_path, facts=firings())
    (run_dir / "report.html").unlink()
    result = runner.invoke(app, ["report", str(run_dir), "--html"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(run_dir / "report.html")
    assert (run_dir / "report.html").read_text().count('<figure class="chart"') == 6
    base = series[0]
    again = runner.invoke(app, ["report", str(base), "--markdown"])
    assert again.exit_code == 0 and again.output.startswith("**PASS: passed 4 of 4**")
    assert runner.invoke(app, ["report", str(base), "--html"]).exit_code == 0


def test_report_html_with_a_damaged_requests_table_is_exit_2_and_leaves_the_page(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, facts=firings())
    page = (run_dir / "report.html").read_text()
    (run_dir / "requests.parquet").write_bytes(b"PAR1 not a parquet file PAR1")
    result = runner.invoke(app, ["report", str(run_dir), "--html"])
    assert result.exit_code == 2
    assert "a parquet file is unreadable" in result.output and "the charts need" in result.output
    assert (run_dir / "report.html").read_text() == page
