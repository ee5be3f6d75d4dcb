"""Bad metrics flags of `chaoskit run` are bad input (exit 2) and are refused before anything starts."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.prometheus.servers import process

pytestmark = pytest.mark.prometheus


def run(args: list[str], log: Path) -> tuple[int, str]:
    with process([sys.executable, "-m", "chaoskit.cli", "run", "pod-recreate", *args], log) as child:
        code = child.wait(timeout=60)
    return code, log.read_text(errors="replace")


def test_a_malformed_pushgateway_is_refused(tmp_path: Path) -> None:
    code, output = run(["--pushgateway", "ftp://gateway", "--out", str(tmp_path / "runs")], tmp_path / "cli.log")
    assert code == 2, output
    assert "not an http(s) URL of a Pushgateway" in output
    assert not (tmp_path / "runs").exists()  # refused before the run made its directory


def test_a_taken_metrics_port_is_refused(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = run(["--metrics-port", str(port), "--out", str(tmp_path / "runs")], tmp_path / "cli.log")
    assert code == 2, output
    assert f"cannot serve metrics on 127.0.0.1:{port}" in output
    assert not (tmp_path / "runs").exists()
