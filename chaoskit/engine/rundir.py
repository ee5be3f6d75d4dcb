"""The run directory: one folder per run, every file written atomically (temp file + rename).

A run directory is born marked incomplete: it appears (by rename) already holding ``.incomplete``, which
names the process that owns the run, and the marker goes only once every file of the run is saved. So a
directory left by a crashed (SIGKILLed) run is recognisable, and `chaoskit cleanup` can tell it from a run
that is still going on (``RunDirState``, ``scan``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import errno
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from chaoskit.owner import Owner

INCOMPLETE: Final = ".incomplete"
"""Marker file of a run directory whose run has not saved its files (yet): holds the owner as JSON."""
CREATING: Final = ".creating"
"""Suffix of the hidden directory a run directory is prepared in before it is renamed into place."""


class RunDirError(Exception):
    """Run directories cannot be created where asked (bad input: exit 2); ``hint`` says what to do."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def run_dir_name(experiment: str, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{experiment}"


def check_out_dir(root: Path) -> Path:
    """Prove that run directories can be created in ``root`` before anything starts; returns it.

    Makes (and removes again) ``root``'s missing parts and a directory in it, so nothing is left behind
    whatever happens next; RunDirError says why not (not a directory, /proc, read-only, ...).
    """
    root = root.expanduser()
    missing = _missing_parts(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(dir=root, prefix=".chaoskit-probe-"))
    except OSError as exc:
        raise RunDirError(f"{root}: cannot create run directories there: {exc.strerror or exc}",
                          hint="pass a writable directory (it is created if missing), e.g. --out runs") from None
    finally:
        for made in missing:  # innermost first; only what this call made (the run makes them again)
            with contextlib.suppress(OSError):
                made.rmdir()
    return root


def _missing_parts(root: Path) -> list[Path]:
    """The not-yet-existing directories on the way to ``root``, innermost first; RunDirError when something
    on the way exists but is not a directory."""
    missing: list[Path] = []
    for part in (root, *root.parents):
        try:
            mode = part.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):  # the latter: a file further up, found next
            missing.append(part)
            continue
        except OSError as exc:
            raise RunDirError(f"{root}: cannot look at {part}: {exc.strerror or exc}",
                              hint="pass a directory you can write to, e.g. --out runs") from None
        if not stat.S_ISDIR(mode):
            what = "" if part == root else f"{part} on its path "
            raise RunDirError(f"{root}: {what}is not a directory but {_file_kind(mode)}",
                              hint="pass the directory run directories are created in, e.g. --out runs")
        break
    return missing


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file"))
    return next((name for test, name in kinds if test(mode)), "something else")


class RunDir:
    """``runs/<UTC time>-<experiment>/``: resolved spec, requests/events parquet, summary.json, report.md."""

    def __init__(self, root: Path, experiment: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = _create(root, run_dir_name(experiment))
        self.run_id = self.path.name

    @property
    def complete(self) -> bool:
        return not (self.path / INCOMPLETE).exists()

    def mark_complete(self) -> None:
        """Every file of the run is saved: drop the incomplete marker."""
        (self.path / INCOMPLETE).unlink(missing_ok=True)

    def _atomic(self, name: str, write: Callable[[Path], None]) -> Path:
        target = self.path / name
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        try:
            write(Path(tmp))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def write_text(self, name: str, text: str) -> Path:
        def write(path: Path) -> None:
            path.write_text(text, encoding="utf-8")

        return self._atomic(name, write)

    def write_json(self, name: str, data: Any) -> Path:
        return self.write_text(name, json.dumps(data, indent=2, sort_keys=False) + "\n")

    def write_parquet(self, name: str, frame: pd.DataFrame) -> Path:
        return self._atomic(name, lambda p: frame.to_parquet(p, index=False))


def _create(root: Path, name: str) -> Path:
    """A new directory ``root/name`` (``name-2``, ... when taken) that holds the incomplete marker from its
    first instant: prepared under a hidden name, then renamed into place."""
    staging = root / f".{name}.{secrets.token_hex(4)}{CREATING}"
    staging.mkdir()  # not mkdtemp: a run directory gets the usual permissions (umask), not 0700
    try:
        (staging / INCOMPLETE).write_text(Owner.current().to_json() + "\n", encoding="utf-8")
        for n in range(1, 10_000):
            path = root / (name if n == 1 else f"{name}-{n}")
            if path.exists():
                continue
            try:
                os.rename(staging, path)  # never replaces a run directory: each holds at least its marker
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                continue
            return path
        raise RunDirError(f"{root}: no free run directory name for {name}", hint="remove old run directories")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class RunDirState(enum.StrEnum):
    COMPLETE = "complete"
    RUNNING = "incomplete (running)"
    CRASHED = "incomplete (crashed run)"
    UNKNOWN = "incomplete (owner on another host)"


@dataclass(frozen=True, slots=True)
class FoundRunDir:
    path: Path
    state: RunDirState
    owner: Owner | None
    empty: bool
    """Holds nothing of the run: only the marker (and temp files of an interrupted write)."""
    staging: bool = False
    """A hidden directory a run was being prepared in (``.<name>.<random>.creating``)."""


def inspect(path: Path) -> FoundRunDir:
    """The state of one run directory (complete, running, crashed) from its marker and its owner."""
    names = [p.name for p in path.iterdir()] if path.is_dir() else []
    # Unfinished writes are not saved data: atomic writes' .tmp files, and the request spool's .partial parquet
    # (it has no footer until the run ends, so nothing can read it).
    empty = all(n == INCOMPLETE or (n.startswith(".") and n.endswith((".tmp", ".partial"))) for n in names)
    staging = path.name.startswith(".") and path.name.endswith(CREATING)
    if INCOMPLETE not in names:
        if staging:  # killed between making it and writing the marker (or still there): judge by age
            old = _age_s(path) > STAGING_GRACE_S
            return FoundRunDir(path, RunDirState.CRASHED if old else RunDirState.RUNNING, None, empty, staging)
        return FoundRunDir(path, RunDirState.COMPLETE, None, empty, staging)
    try:
        owner = Owner.from_json((path / INCOMPLETE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        owner = None
    alive = owner.alive() if owner is not None else False  # no readable owner: nobody can still own it
    state = {True: RunDirState.RUNNING, False: RunDirState.CRASHED, None: RunDirState.UNKNOWN}[alive]
    return FoundRunDir(path, state, owner, empty, staging)


STAGING_GRACE_S: Final = 60.0
"""A staging directory without a marker is someone's run being born for microseconds; after this, a crash's."""


def _age_s(path: Path) -> float:
    try:
        return dt.datetime.now(dt.UTC).timestamp() - path.stat().st_mtime
    except OSError:
        return 0.0


def scan(root: Path) -> Iterator[FoundRunDir]:
    """Every run directory in ``root`` (and staging directory of one), sorted by name."""
    if not root.is_dir():
        return
    for path in sorted(root.iterdir()):
        if path.is_dir() and not path.is_symlink():
            found = inspect(path)
            if found.state is not RunDirState.COMPLETE or found.staging or (path / "summary.json").exists():
                yield found
