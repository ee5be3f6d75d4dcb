"""The console every command prints its tables on."""

from __future__ import annotations

import os
import sys
from typing import Final

from rich.console import Console

PIPED_WIDTH: Final = 132
"""Columns when the output is not a terminal (a CI log, a file, ``| less``) and ``COLUMNS`` is unset: rich's
default of 80 wraps the tables' headers and cells mid-word ("recover y"); the widest table fits in 132."""


def new_console(*, stderr: bool = False, quiet: bool = False) -> Console:
    """A terminal's own width when there is one, ``COLUMNS`` when set, else :data:`PIPED_WIDTH`."""
    stream = sys.stderr if stderr else sys.stdout
    interactive = stream.isatty() or "COLUMNS" in os.environ
    return Console(stderr=stderr, quiet=quiet, width=None if interactive else PIPED_WIDTH)
