"""`chaoskit validate` and `chaoskit schema` through the real typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaoskit.cli.app import app
from tests.unit.test_spec_helpers import EXPERIMENT, edit, where, write_manifest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_validate_ok_prints_a_summary_per_file(tmp_path: Path) -> None:
    write_manifest(tmp_path)
    (tmp_path / "a.yaml").write_text(EXPERIMENT, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(edit("name: demo\ndesc", "name: other\ndesc"), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("ok:")] == [
        f"ok: {tmp_path / 'a.yaml'} (demo: 1 faults, duration 13 s)",
        f"ok: {tmp_path / 'b.yaml'} (other: 1 faults, duration 13 s)",
    ]
    # The pod template has two containers: each file says what the embedded cluster does not model for them.
    notices = [line for line in lines if line.startswith("  notice:")]
    assert len(notices) == 2 and all("(web, sidecar)" in n and "localhost" in n for n in notices)


def test_validate_bad_file_prints_located_issues_and_exits_2(tmp_path: Path) -> None:
    write_manifest(tmp_path)
    text = edit("baseline: 1s", "baseline: 1x")
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "good.yaml").write_text(EXPERIMENT, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "bad.yaml"), str(tmp_path / "good.yaml")])
    assert result.exit_code == 2
    line, col = where(text, "1x")
    assert result.stderr.splitlines() == [
        f'{tmp_path / "bad.yaml"}:{line}:{col}: phases.baseline: invalid duration "1x"',
        '    hint: write a number of seconds or a string like "500ms", "2s", "1.5m", "1h", "1m30s"',
    ]
    assert result.stdout.startswith(f"ok: {tmp_path / 'good.yaml'}")  # later files are still checked


def test_validate_unknown_name_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{tmp_path / 'nope.yaml'}: no such experiment file or name")


def test_validate_resolves_names_in_experiments_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, ["validate", "pod-recreate"])
    assert result.exit_code == 0, result.output
    expected = f"ok: {REPO / 'experiments' / 'pod-recreate.yaml'} (pod-recreate: 1 faults, duration 33 s)"
    assert result.stdout.splitlines() == [expected]


def test_validate_without_files_is_a_usage_error() -> None:
    assert CliRunner().invoke(app, ["validate"]).exit_code == 2


def test_schema_is_json_with_the_fault_discriminator() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    items = schema["properties"]["faults"]["items"]
    assert items["discriminator"]["propertyName"] == "kind"
    assert set(items["discriminator"]["mapping"]) == {"pod-delete", "pod-kill", "container-restart", "node-drain",
                                                      "node-failure"}
    assert "from" in schema["$defs"]["Load"]["properties"]
    assert schema["$defs"]["Phases"]["additionalProperties"] is False


@pytest.mark.parametrize("flags", [["--agent-cpu", "banana"], ["--load-from", "elsewhere"]])
def test_bad_kube_load_flags_exit_2_before_anything_runs(tmp_path: Path, flags: list[str]) -> None:
    result = CliRunner().invoke(app, ["run", "pod-recreate", "--backend", "kube", "--out", str(tmp_path), *flags])
    assert result.exit_code == 2, result.output
    assert flags[0] in result.stderr
    assert list(tmp_path.iterdir()) == []  # no run directory: nothing started
