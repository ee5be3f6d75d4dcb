"""Limits on experiment and manifest files, and bounds on values: each is a located message with a hint,
through `chaoskit validate` (exit 2) or the manifest reader (ManifestError)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaoskit.cli.app import app
from chaoskit.cluster.manifests import load_manifest_files, load_manifest_text
from chaoskit.cluster.protocol import ManifestError
from chaoskit.yamllimits import EXPERIMENT_LIMITS, MANIFEST_LIMITS, YamlLimitError, check_text
from tests.unit.test_spec_helpers import EXPERIMENT, MANIFEST, edit, where, write_manifest

pytestmark = pytest.mark.unit

BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))


def validate(tmp_path: Path, text: str, manifest: str = MANIFEST) -> tuple[int, list[str]]:
    """Exit code and stderr lines of `chaoskit validate` on ``text`` saved as exp.yaml (next to the manifest)."""
    write_manifest(tmp_path).write_text(manifest, encoding="utf-8")
    path = tmp_path / "exp.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    return result.exit_code, result.stderr.splitlines()


def located(tmp_path: Path, text: str, needle: str, skip: int = 0) -> str:
    line, column = where(text, needle, skip=skip)
    return f"{tmp_path / 'exp.yaml'}:{line}:{column}: "


def test_deep_nesting_is_refused_where_it_gets_too_deep(tmp_path: Path) -> None:
    text = EXPERIMENT + "metadata: " + "[" * 300 + "]" * 300 + "\n"
    code, lines = validate(tmp_path, text)
    assert code == 2
    # The document's own mapping is the first level: the 32nd bracket is one too many.
    assert lines[0] == located(tmp_path, text, "[" * 300, skip=31) + "nesting deeper than 32 levels"
    assert lines[1].startswith("    hint: flatten the structure")


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    text = EXPERIMENT + BOMB
    code, lines = validate(tmp_path, text)
    assert code == 2
    assert lines[0].endswith(": more than 10,000 values once aliases are expanded")
    assert lines[1].startswith("    hint: aliases that repeat other aliases multiply")


def test_too_many_aliases_are_refused(tmp_path: Path) -> None:
    text = EXPERIMENT + "x: &v 1\ny: [" + ", ".join(["*v"] * 101) + "]\n"
    code, lines = validate(tmp_path, text)
    assert code == 2
    assert lines[0].endswith(": more than 100 alias uses (*name)")


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    text = edit("rate: 10", "rate: &r [*r]")
    code, lines = validate(tmp_path, text)
    assert code == 2
    assert lines[0] == (located(tmp_path, text, "*r]") +
                        "alias *r refers to a node that contains it (a recursive structure)")


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    text = EXPERIMENT + "#" * EXPERIMENT_LIMITS.max_bytes
    code, lines = validate(tmp_path, text)
    assert code == 2
    assert lines[0] == f"{tmp_path / 'exp.yaml'}: file is {len(text):,} bytes, more than the limit of 1,048,576"


@pytest.mark.parametrize(("value", "message"), [
    ("2001-13-45", "YAML value cannot be read: month must be in 1..12"),
    ("9" * 5000, "YAML value cannot be read: Exceeds the limit (4300 digits) for integer string conversion"),
    ("!!int abc", "YAML value cannot be read: invalid literal for int() with base 10: 'abc'"),
])
def test_a_value_yaml_cannot_build_is_located(tmp_path: Path, value: str, message: str) -> None:
    text = edit("rate: 10", f"rate: {value}")
    code, lines = validate(tmp_path, text)
    assert code == 2
    assert lines[0].startswith(located(tmp_path, text, value) + message)
    assert "quote it for a string" in lines[1]


@pytest.mark.parametrize(("old", "new", "message", "hint"), [
    ("baseline: 1s", "baseline: 25h", "phases.baseline: duration 25h is longer than 24h, the limit of every "
     "duration", "check the unit"),
    ("baseline: 1s", "baseline: 1e308", "phases.baseline: duration 1e+308 is longer than 24h", "check the unit"),
    ("rate: 10", "rate: 1e308", "load.rate: Input should be less than or equal to 100000",
     "rate: Requests per second per service address, 0.01 to 100,000: one load agent core"),
    ("rate: 10", "rate: 0.001", "load.rate: Input should be greater than or equal to 0.01", "0.01 to 100,000"),
    ("rate: 10", "rate: 10\n  timeout: 10m", "load.timeout: Input should be less than or equal to 300",
     "at most 300 s"),
    ("times: 3}", "times: 100000000}", "faults[0].schedule.times: Input should be less than or equal to 10000",
     "1 to 10,000"),
    ("selector: {app: demo}", "selector: {app: demo}\n  replicas: 0",
     "target.replicas: Input should be greater than or equal to 1", "a target with none has nothing"),
])
def test_bounds_are_located_with_a_hint(tmp_path: Path, old: str, new: str, message: str, hint: str) -> None:
    text = edit(old, new)
    code, lines = validate(tmp_path, text)
    assert code == 2, lines
    assert message in lines[0]
    assert hint in lines[1]


def test_all_faults_together_fire_at_most_10000_times(tmp_path: Path) -> None:
    faults = "".join(f"  - {{kind: pod-delete, name: f{i}, schedule: {{every: 1ms, times: 4000}}}}\n"
                     for i in range(3))
    text = edit("faults:\n", "faults:\n" + faults)
    code, lines = validate(tmp_path, text)
    assert code == 2
    assert lines[0] == located(tmp_path, text, "- {kind: pod-delete") + (
        "faults: the faults fire 12,003 times in all, more than 10,000")


def test_at_most_100_manifests(tmp_path: Path) -> None:
    text = edit("manifests: [target.yaml]", "manifests: [" + ", ".join(["target.yaml"] * 101) + "]")
    code, lines = validate(tmp_path, text)
    assert code == 2
    assert "target.manifests: List should have at most 100 items" in lines[0]
    assert "(1 to 100)" in lines[1]


def test_a_manifest_breaking_a_limit_is_named_by_validate(tmp_path: Path) -> None:
    code, lines = validate(tmp_path, EXPERIMENT, manifest=MANIFEST + "---\n" + BOMB)
    assert code == 2
    prefix = located(tmp_path, EXPERIMENT, "target.yaml") + f"target.manifests[0]: manifest {tmp_path / 'target.yaml'}:"
    assert re.fullmatch(re.escape(prefix) + r"\d+:\d+: more than 500,000 values once aliases are expanded", lines[0])
    assert lines[1].startswith("    hint: aliases that repeat other aliases multiply")


@pytest.mark.parametrize(("text", "message"), [
    ("kind: List\nitems: " + "[" * 200 + "]" * 200, "src.yaml:2:107: nesting deeper than 100 levels"),
    ("a: &a [*a]\n", "src.yaml:1:8: alias *a refers to a node that contains it"),
    ("kind: Pod\nx: " + "9" * 5000 + "\n", "src.yaml: a YAML value cannot be read: Exceeds the limit"),
    ("kind: List\nitems: [1, 2]\n", "src.yaml#1: List.items must be a list of objects"),
])
def test_manifest_reader_errors_are_located(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest_text(text, "src.yaml")
    assert str(info.value).startswith(message)
    assert info.value.hint


def test_a_huge_manifest_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(MANIFEST_LIMITS.max_bytes + 1)  # sparse: nothing is written or read
    with pytest.raises(ManifestError, match=r"huge.yaml: file is 8,388,609 bytes, more than the limit"):
        load_manifest_files([path])


def test_limits_check_does_not_build_the_document() -> None:
    # Ten levels of ten aliases: 10**10 nodes once built. The check answers from the events alone.
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
    with pytest.raises(YamlLimitError, match="once aliases are expanded"):
        check_text(bomb, MANIFEST_LIMITS, fallback=lambda _: [])


def test_a_path_too_long_for_the_file_system_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "x" * 5000])
    assert result.exit_code == 2
    assert result.stderr.startswith("x" * 200 + ": cannot use this path: File name too long")
    text = edit("manifests: [target.yaml]", "manifests: [" + "m" * 5000 + "]")
    code, lines = validate(tmp_path, text)
    assert code == 2
    assert lines[0] == located(tmp_path, text, "m" * 5000) + (
        "target.manifests[0]: manifest path cannot be used: File name too long")


def test_a_schedule_beyond_a_day_is_refused_before_any_firing_is_listed(tmp_path: Path) -> None:
    text = edit("schedule: {at: 1s, every: 2s, times: 3}", "schedule: {at: 1s, every: 24h, times: 10000}")
    code, lines = validate(tmp_path, text)
    assert code == 2
    assert lines[0] == located(tmp_path, text, "{at: 1s, every: 24h") + (
        "faults[0].schedule: the last firing is 8.63914e+08 s after chaos starts, beyond 24h")
    assert "no phase lasts longer than 24h" in lines[1]


def test_a_manifest_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("kind: Pod\nmetadata: {name: caf\xe9}\n".encode("latin-1"))
    with pytest.raises(ManifestError, match=r"latin1.yaml: cannot read: 'utf-8' codec can't decode") as info:
        load_manifest_files([path])
    assert info.value.hint == "check the path; manifests are UTF-8"
