"""The shipped Prometheus config passes `promtool check config`; a broken one does not (the check can fail)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.prometheus.servers import need

pytestmark = pytest.mark.prometheus

CONFIG = Path(__file__).parents[2] / "deploy" / "prometheus" / "prometheus.yml"


def promtool(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("promtool"), "check", "config", str(config)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_shipped_config_is_valid() -> None:
    result = promtool(CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "prometheus.yml"
    broken.write_text(CONFIG.read_text(encoding="utf-8").replace("scrape_interval: 5s", "scrape_interval: soon"),
                      encoding="utf-8")
    assert promtool(broken).returncode != 0
