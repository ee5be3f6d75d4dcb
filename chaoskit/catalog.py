"""Where experiments come from: the user's ``./experiments`` first, then the ones that ship with chaoskit.

`chaoskit list`, `run NAME` and `validate NAME` all look names up here, so they agree on what a name means.
The built-in experiments and manifests are package data (``chaoskit.builtin.experiments`` and
``chaoskit.builtin.manifests``, mapped from the repository's top-level folders in pyproject.toml), located with
:mod:`importlib.resources` so they are found from any directory, installed or editable.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Final

from chaoskit.experiment.errors import SpecError, SpecIssue

SUFFIXES: Final = (".yaml", ".yml")
USER_DIR_NAME: Final = "experiments"


class Origin(StrEnum):
    """Whose an experiment is: the words `chaoskit list` prints."""

    USER = "yours"
    BUILTIN = "built-in"


@dataclass(frozen=True, slots=True)
class Entry:
    """One experiment file the catalog knows, by the name `chaoskit run NAME` accepts (the file's stem)."""

    name: str
    path: Path
    origin: Origin
    shadowed: bool = False
    """A built-in hidden by a user file of the same name (still runnable by its path)."""


def builtin_experiments_dir() -> Path:
    """The experiments shipped in the chaoskit package."""
    return _package_dir("chaoskit.builtin.experiments")


def builtin_manifests_dir() -> Path:
    """The manifests the built-in experiments use (``../manifests/...`` from each experiment file)."""
    return _package_dir("chaoskit.builtin.manifests")


def user_dir(cwd: Path | None = None) -> Path:
    """``./experiments`` of the current (or given) directory: the user's own experiments."""
    return (cwd if cwd is not None else Path.cwd()) / USER_DIR_NAME


def experiment_files(directory: Path) -> list[Path]:
    """The experiment files in ``directory``, sorted by name; none when it does not exist."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())


def entries(user: Path | None = None, builtin: Path | None = None) -> list[Entry]:
    """The user's experiments, then the built-ins; a built-in with a user file of the same name is shadowed.

    Run from the chaoskit checkout (an editable install), ``./experiments`` *is* the built-in folder: its files
    are listed once, as built-ins.
    """
    builtin = builtin if builtin is not None else builtin_experiments_dir()
    user = _distinct(user if user is not None else user_dir(), builtin)
    mine = [Entry(p.stem, p, Origin.USER) for p in experiment_files(user)] if user is not None else []
    names = {e.name for e in mine}
    shipped = [Entry(p.stem, p, Origin.BUILTIN, shadowed=p.stem in names) for p in experiment_files(builtin)]
    return mine + shipped


def resolve(name_or_path: str, user: Path | None = None, builtin: Path | None = None) -> Path:
    """An existing file as given, else the first experiment of that name: the user's, then the built-in.

    Raises SpecError (bad input) naming the closest known name and every name in both places.
    """
    direct = Path(name_or_path).expanduser()
    try:
        if direct.is_file():
            return direct
    except (OSError, RuntimeError) as err:  # a name too long for the file system, a symlink loop
        problem = getattr(err, "strerror", None) or err
        raise SpecError([SpecIssue(name_or_path[:200], None, None, f"cannot use this path: {problem}",
                                   "give the path of an experiment file, or its name")]) from None
    known = entries(user, builtin)
    for entry in known:
        if entry.name == name_or_path and not entry.shadowed:
            return entry.path
    hint = _hint(name_or_path, known)
    raise SpecError([SpecIssue(name_or_path, None, None, "no such experiment file or name", hint)])


def _hint(wanted: str, known: list[Entry]) -> str:
    names = list(dict.fromkeys(e.name for e in known))
    close = difflib.get_close_matches(wanted, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    by_origin = {
        origin: ", ".join(e.name for e in known if e.origin is origin and not e.shadowed) or "none"
        for origin in Origin
    }
    return hint + f"yours (./{USER_DIR_NAME}): {by_origin[Origin.USER]}; built-in: {by_origin[Origin.BUILTIN]}"


def _distinct(user: Path, builtin: Path) -> Path | None:
    """``user`` unless it is missing or the very folder of the built-ins."""
    if not user.is_dir():
        return None
    return None if builtin.is_dir() and user.resolve() == builtin.resolve() else user


def _package_dir(package: str) -> Path:
    found = files(package)
    if not isinstance(found, Path):  # a zipped install: the experiments' relative manifest paths need real files
        raise RuntimeError(f"{package} is not a folder on disk ({found}); install chaoskit from a wheel or checkout")
    return found
