"""pyproject.toml ships every package, the built-in experiments beside their manifests, and one version."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = {"chaoskit.builtin.experiments": "experiments", "chaoskit.builtin.manifests": "manifests"}


@pytest.fixture(scope="module")
def setuptools_config() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    return config


def test_the_package_list_is_every_package_under_chaoskit_plus_the_built_in_folders(
        setuptools_config: dict[str, Any]) -> None:
    """The list is written out (find cannot rename folders): a new subpackage must be added to it."""
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "chaoskit").rglob("__init__.py")}
    assert set(setuptools_config["packages"]) == on_disk | set(BUILTIN)


def test_experiments_and_manifests_ship_side_by_side_from_the_top_level_folders(
        setuptools_config: dict[str, Any]) -> None:
    assert setuptools_config["package-dir"] == BUILTIN
    for package, folder in BUILTIN.items():
        assert (ROOT / folder / "__init__.py").is_file(), f"{folder}/ needs its package marker"
        assert setuptools_config["package-data"][package] == ["*.yaml"]


def test_the_version_has_one_source(setuptools_config: dict[str, Any]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert setuptools_config["dynamic"]["version"] == {"attr": "chaoskit.__version__"}
