"""The run notes made of the proxy's health reports, and the host kube-proxy check (one function each)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaoskit.cluster.local.proxy.client import ProxyHealth
from chaoskit.cluster.local.proxy.firewall import host_firewall_notes, kube_proxies_here

pytestmark = pytest.mark.unit
S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01 00:00:00 UTC


def _report(at_s: float, drops: int = 0, timeouts: int = 0, lag_ms: float = 0.0) -> dict[str, object]:
    return {"op": "health", "id": "proxy", "ts_ns": T0 + int(at_s * S), "listen_drops": drops,
            "handoff_timeouts": timeouts, "handoff_refused": 0, "loop_lag_ms": lag_ms, "cpu_s": 1.0}


def test_a_proxy_that_kept_up_makes_no_note() -> None:
    health = ProxyHealth()
    for report in (_report(0), _report(5, lag_ms=20.0)):
        health.update(report)
    assert health.notes() == []


def test_drops_and_timeouts_are_noted_with_their_window() -> None:
    health = ProxyHealth()
    for report in (_report(0), _report(10.0, drops=3), _report(12.5, drops=5, timeouts=2)):
        health.update(report)
    assert health.windows == [(T0, T0 + 10 * S, 3, 0), (T0 + 10 * S, T0 + int(12.5 * S), 2, 2)]
    [note] = health.notes()
    assert note == ("the embedded cluster's proxy was saturated: 5 connections dropped by the kernel accept "
                    "queue, 2 hand-overs timed out (UTC 00:00:00.0-00:00:10.0, 00:00:10.0-00:00:12.5): "
                    "failures in those windows are the embedded cluster's, not the service's")


def test_a_late_event_loop_is_noted() -> None:
    health = ProxyHealth()
    for report in (_report(0), _report(3, lag_ms=400.0), _report(4, lag_ms=900.0)):
        health.update(report)
    [note] = health.notes()
    assert note.startswith("the embedded cluster's proxy ran up to 900 ms late 2 times (first at UTC 00:00:03.0)")


def _proc(root: Path, pid: int, comm: str, netns: str) -> None:
    entry = root / str(pid)
    (entry / "ns").mkdir(parents=True)
    (entry / "comm").write_text(comm + "\n")
    os.symlink(netns, entry / "ns" / "net")


def test_only_a_kube_proxy_in_our_network_namespace_counts(tmp_path: Path) -> None:
    _proc(tmp_path, 1, "systemd", "net:[1]")
    (tmp_path / "self").symlink_to(tmp_path / "1")
    _proc(tmp_path, 40, "kube-proxy", "net:[1]")
    _proc(tmp_path, 41, "kube-proxy", "net:[2]")  # a second node's, in its own namespace
    _proc(tmp_path, 42, "kube-proxyx", "net:[1]")
    assert kube_proxies_here(tmp_path) == [40]


def test_no_firewall_note_without_node_ports() -> None:
    assert host_firewall_notes([]) == []
