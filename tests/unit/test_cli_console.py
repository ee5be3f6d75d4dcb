"""The console's width: a terminal's own, COLUMNS when set, else wide enough that piped tables do not wrap."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from chaoskit.cli.console import PIPED_WIDTH, new_console

pytestmark = pytest.mark.unit

PROBE = "from chaoskit.cli.console import new_console; print(new_console().width)"


def _width_in_child(env: dict[str, str]) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60,
                          check=True)
    return int(done.stdout)


def test_piped_output_gets_the_wide_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert new_console().width == PIPED_WIDTH  # pytest captures stdout: not a terminal


def test_columns_wins_when_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    assert _width_in_child(env) == PIPED_WIDTH
    assert _width_in_child({**env, "COLUMNS": "97"}) == 97


def test_a_status_line_stays_on_one_line_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = new_console()
    with out.capture() as captured:
        out.print("pod-recreate: PASS: every SLO held, every fault was injected as planned and the load was delivered")
    assert captured.get().count("\n") == 1
