"""A run's seed is in its report and replays its choices: the same seed picks the same victims."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from chaoskit.cluster.local.cluster import LocalCluster
from tests.local.engine_support import experiment, run

pytestmark = pytest.mark.local


def victims(out: Path, seed: int) -> tuple[list[str], str]:
    spec = experiment("pod-recreate", baseline=1.0, chaos=15.0, recovery=1.0)
    _summary, outcome = run(spec, out, seed=seed)
    report = (outcome.run_dir / "report.md").read_text()
    data = json.loads((outcome.run_dir / "summary.json").read_text())["data"]
    return sorted({row["victim"] for row in data}), report


def test_the_same_seed_picks_the_same_victims_and_the_report_says_which(tmp_path: Path) -> None:
    first, report = victims(tmp_path / "a", 42)
    again, _ = victims(tmp_path / "b", 42)
    assert len(first) == 3  # faults at chaos+2, +8 and +14 s
    assert first == again
    assert "Seed: 42 (`--seed 42` picks the same victims)" in report


@pytest.mark.local
def test_two_clusters_with_the_same_seed_get_different_ranges() -> None:
    """The seed picks the first range to try; a range another live cluster holds is skipped, not shared."""
    first, second = LocalCluster(seed=11), LocalCluster(seed=11)
    try:
        assert first.plan.subnet != second.plan.subnet
    finally:
        asyncio.run(first.close())
        asyncio.run(second.close())
    again = LocalCluster(seed=11)
    try:
        assert again.plan.subnet == first.plan.subnet  # released on close, so the seed's choice is free again
    finally:
        asyncio.run(again.close())


@pytest.mark.unit
def test_a_range_with_any_socket_is_in_use(tmp_path: Path) -> None:
    from chaoskit.cluster.local.addresses import _range_in_use

    table = tmp_path / "tcp"
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    # 127.135.254.1:8080 listening (little-endian hex: 01FE877F:1F90)
    table.write_text(header + "   0: 01FE877F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0 0 1\n")
    assert _range_in_use(0x87, table) is True
    assert _range_in_use(0x88, table) is False
    assert _range_in_use(0x87, tmp_path / "absent") is False
