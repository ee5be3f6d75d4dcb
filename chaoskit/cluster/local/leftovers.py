"""The embedded cluster's state directories, named after their owner, and finding those of dead owners.

A state directory is ``<tmp>/chaoskit-local-<pid>-<start ticks>-<random>``: the owner is in the name from the
instant the directory exists (no window in which it is anonymous). ``close`` removes it; a SIGKILLed owner
cannot, and its pods die with it (parent-death signal), so what remains is the directory: `chaoskit cleanup`
removes those whose owner is gone, never one whose owner still runs.
"""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chaoskit.owner import Owner

PREFIX: Final = "chaoskit-local-"
_OWNED: Final = re.compile(rf"^{re.escape(PREFIX)}(\d+)-(\d+)-")


def new_state_dir() -> Path:
    """A fresh state directory in the system temp directory, named after this process."""
    owner = Owner.current()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{owner.pid}-{owner.start}-"))


@dataclass(frozen=True, slots=True)
class StateDir:
    path: Path
    owner: Owner | None
    """None for a directory of an older chaoskit (no owner in its name): nobody can tell whether it is used."""

    @property
    def orphaned(self) -> bool:
        """Its owner is gone (False when the owner runs or is unknown)."""
        return self.owner is not None and self.owner.alive() is False


def find_state_dirs(tmp: Path | None = None) -> list[StateDir]:
    """Every embedded-cluster state directory in ``tmp`` (default: the system temp directory)."""
    root = tmp or Path(tempfile.gettempdir())
    found = []
    for path in sorted(root.glob(f"{PREFIX}*")):
        if not path.is_dir() or path.is_symlink():
            continue
        match = _OWNED.match(path.name)
        owner = Owner(int(match[1]), int(match[2]), socket.gethostname()) if match else None
        found.append(StateDir(path, owner))
    return found


def remove(state: StateDir) -> None:
    """Delete an orphaned state directory (refuses one whose owner may still use it)."""
    if not state.orphaned:
        raise ValueError(f"{state.path}: its owner may still use it")
    shutil.rmtree(state.path, ignore_errors=True)
