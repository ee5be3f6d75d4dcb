"""The CLI outside the checkout: built-in experiments and manifests come from the package, not from the cwd.

The full proof with a built wheel in a fresh virtual environment is scripts/test-install (run by .ci/run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import children_of, reap_zombies

pytestmark = pytest.mark.local


def _chaoskit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "chaoskit.cli", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=120, check=False)
    reap_zombies()
    assert children_of(os.getpid()) == [], "a process was left behind"
    return result


def test_cluster_demo_runs_the_built_in_target_from_an_empty_directory(tmp_path: Path) -> None:
    result = _chaoskit(tmp_path, "cluster", "demo")
    assert result.returncode == 0, result.stderr
    assert "replacement" in result.stdout and "with a new IP" in result.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written where the user stood


def test_validate_finds_a_built_in_by_name_from_an_empty_directory(tmp_path: Path) -> None:
    result = _chaoskit(tmp_path, "validate", "pod-recreate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ") and "pod-recreate.yaml (pod-recreate:" in result.stdout
