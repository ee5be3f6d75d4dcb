"""`chaoskit list`, `run NAME` and `validate NAME` from a directory that is not the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaoskit import catalog
from chaoskit.cli.app import app

pytestmark = pytest.mark.unit


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with the user's own pod-kill (shadowing the built-in) and a file of their own."""
    mine = tmp_path / "experiments"
    mine.mkdir()
    shipped = (catalog.builtin_experiments_dir() / "pod-kill.yaml").read_text(encoding="utf-8")
    target = catalog.builtin_manifests_dir() / "target.yaml"
    text = shipped.replace("../manifests/target.yaml", str(target)).replace("Force-delete", "My force-delete")
    (mine / "pod-kill.yaml").write_text(text, encoding="utf-8")
    (mine / "broken.yaml").write_text("name: [\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_list_marks_yours_and_built_in_and_says_what_is_shadowed(elsewhere: Path) -> None:
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    rows = [line.split(maxsplit=2) for line in result.stdout.splitlines()]
    assert [(name, origin) for name, origin, _ in rows] == [
        ("broken", "yours"), ("pod-kill", "yours"), ("container-restart", "built-in"), ("node-drain", "built-in"),
        ("pod-kill", "built-in"), ("pod-recreate", "built-in"), ("statefulset-data", "built-in"),
        ("statefulset-node-failure", "built-in")]
    assert rows[0][2].startswith("(invalid: YAML syntax error")
    assert rows[1][2].startswith("My force-delete") and rows[1][2].endswith("(shadows the built-in)")
    builtin_pod_kill = catalog.builtin_experiments_dir() / "pod-kill.yaml"
    assert rows[4][2] == f"(shadowed by yours; run it by path: {builtin_pod_kill})"


def test_validate_takes_a_built_in_name_and_prefers_yours(elsewhere: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "pod-recreate", "pod-kill"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"ok: {catalog.builtin_experiments_dir() / 'pod-recreate.yaml'} (pod-recreate: 1 faults, duration 33 s)",
        f"ok: {elsewhere / 'experiments' / 'pod-kill.yaml'} (pod-kill: 1 faults, duration 33 s)",
    ]


def test_run_of_an_unknown_name_exits_2_naming_both_places(elsewhere: Path) -> None:
    result = CliRunner().invoke(app, ["run", "pod-recreat", "--out", str(elsewhere / "runs")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "pod-recreat: no such experiment file or name",
        "    hint: did you mean 'pod-recreate'? yours (./experiments): broken, pod-kill; "
        "built-in: container-restart, node-drain, pod-recreate, statefulset-data, statefulset-node-failure",
    ]
    assert not (elsewhere / "runs").exists()
