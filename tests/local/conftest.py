"""Fixtures shared by the local tests that drive load agents."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from chaoskit.load.agent import LoadAgent
from tests.support import pid_alive


@pytest.fixture
def agents() -> Iterator[list[LoadAgent]]:
    """Agents a test started; any left alive is killed here so a failed test leaks no process."""
    started: list[LoadAgent] = []
    yield started
    leaked = [a.pid for a in started if a.pid is not None and pid_alive(a.pid)]
    for pid in leaked:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    assert not leaked, f"agent processes left running: {leaked}"
