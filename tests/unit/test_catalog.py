"""The experiment catalog: the user's ./experiments first, the built-ins second, shadowing, and the hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit import catalog
from chaoskit.catalog import Entry, Origin
from chaoskit.experiment import SpecError
from chaoskit.kinds import load_experiment

pytestmark = pytest.mark.unit


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """A user folder with ``mine`` and ``shared``, a built-in folder with ``shared`` and ``shipped``."""
    user, builtin = tmp_path / "experiments", tmp_path / "builtin"
    for folder, names in ((user, ("mine.yaml", "shared.yaml")), (builtin, ("shared.yaml", "shipped.yml"))):
        folder.mkdir()
        for name in names:
            (folder / name).write_text(f"name: {name}\n", encoding="utf-8")
    (builtin / "__init__.py").write_text("", encoding="utf-8")  # the package marker is not an experiment
    return user, builtin


def test_user_experiments_come_first_and_shadow_built_ins(dirs: tuple[Path, Path]) -> None:
    user, builtin = dirs
    assert catalog.entries(user, builtin) == [
        Entry("mine", user / "mine.yaml", Origin.USER),
        Entry("shared", user / "shared.yaml", Origin.USER),
        Entry("shared", builtin / "shared.yaml", Origin.BUILTIN, shadowed=True),
        Entry("shipped", builtin / "shipped.yml", Origin.BUILTIN),
    ]


def test_a_name_resolves_to_the_users_file_before_the_built_in(dirs: tuple[Path, Path]) -> None:
    user, builtin = dirs
    assert catalog.resolve("shared", user, builtin) == user / "shared.yaml"
    assert catalog.resolve("mine", user, builtin) == user / "mine.yaml"
    assert catalog.resolve("shipped", user, builtin) == builtin / "shipped.yml"


def test_an_existing_path_is_taken_as_given(dirs: tuple[Path, Path]) -> None:
    user, builtin = dirs
    assert catalog.resolve(str(builtin / "shared.yaml"), user, builtin) == builtin / "shared.yaml"


def test_without_a_user_folder_only_built_ins_are_known(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    _, builtin = dirs
    found = catalog.entries(tmp_path / "absent", builtin)
    assert [(e.name, e.origin) for e in found] == [("shared", Origin.BUILTIN), ("shipped", Origin.BUILTIN)]


def test_the_built_in_folder_itself_as_cwd_experiments_is_listed_once_as_built_in(dirs: tuple[Path, Path]) -> None:
    """From the checkout (editable install), ./experiments is the built-in folder: not 'yours'."""
    _, builtin = dirs
    found = catalog.entries(builtin, builtin)
    assert [(e.name, e.origin, e.shadowed) for e in found] == [
        ("shared", Origin.BUILTIN, False), ("shipped", Origin.BUILTIN, False)]


def test_a_missing_name_suggests_the_closest_and_lists_both_places(dirs: tuple[Path, Path]) -> None:
    user, builtin = dirs
    with pytest.raises(SpecError) as info:
        catalog.resolve("shiped", user, builtin)
    (issue,) = info.value.issues
    assert (issue.file, issue.message) == ("shiped", "no such experiment file or name")
    assert issue.hint == "did you mean 'shipped'? yours (./experiments): mine, shared; built-in: shipped"


def test_the_user_folder_is_experiments_under_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert catalog.user_dir() == tmp_path / "experiments"


def test_the_built_ins_ship_with_their_manifests_beside_them() -> None:
    """Every built-in experiment loads, and its relative manifest paths land in the built-in manifests."""
    shipped = catalog.entries(Path("/nonexistent"))
    assert {e.name for e in shipped} >= {"pod-recreate", "pod-kill", "container-restart", "node-drain"}
    manifests = catalog.builtin_manifests_dir().resolve()
    for entry in shipped:
        experiment = load_experiment(entry.path)
        assert all(m.is_relative_to(manifests) and m.is_file() for m in experiment.target.manifests), entry.name
