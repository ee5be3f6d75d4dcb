"""A data check a container cannot hold (no shell, a read-only directory): its row says "not checkable", it is
neither lost nor survived, the verdict skips it and the report shows it. Markers go to ``data[].path``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from chaoskit.analysis.summary import summarize
from chaoskit.analysis.synthetic import Outage, PodDeleteScript, events_frame, pod_delete_events, synthetic_requests
from chaoskit.analysis.verdict import SloTargets
from chaoskit.checks.markers import DataChecker
from chaoskit.checks.results import DataCheckResult
from chaoskit.cluster.protocol import ContainerInfo, MarkerUnsupportedError, PodInfo, PodPhase
from chaoskit.experiment import DataCheck
from chaoskit.report import markdown

pytestmark = pytest.mark.unit


def pod(name: str) -> PodInfo:
    containers = (ContainerInfo("web", True, True, 0, mounts={"cache": "/var/cache/"}),
                  ContainerInfo("distroless", True, True, 0, mounts={"data": "/data"}))
    return PodInfo("ns", name, f"uid-{name}", "10.0.0.1", "n1", PodPhase.RUNNING, True, False, {"app": "x"},
                   containers, "web-rs", 0, {"cache": "emptyDir", "data": "persistentVolumeClaim"})


class Recording:
    """The cluster calls a data checker makes before a fault: writes (refused in the distroless container)."""

    def __init__(self) -> None:
        self.written: list[tuple[str, str, str]] = []
        self.events: list[Any] = []

    async def write_marker(self, namespace: str, pod: str, container: str, mount_path: str, marker: str) -> None:
        if container == "distroless":
            raise MarkerUnsupportedError("exec failed", reason=f"no shell in container {container}")
        self.written.append((container, mount_path, marker))

    def record(self, event: Any) -> None:
        self.events.append(event)


class Undo:
    def __init__(self) -> None:
        self.actions: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    def push(self, description: str, action: Callable[[], Awaitable[None]]) -> None:
        self.actions.append((description, action))


def test_a_container_without_a_shell_gives_a_not_checkable_row_and_nothing_to_remove() -> None:
    cluster, undo = Recording(), Undo()
    checks = [DataCheck(volume="cache", path="chaoskit/markers"), DataCheck(volume="data")]
    checker = DataChecker(cluster, checks, run_id="run_1", namespace="ns", selector={"app": "x"},  # type: ignore[arg-type]
                          undo=undo)
    markers = asyncio.run(checker.before("delete#1", [pod("web-1")]))
    # The checkable one went to the named directory below the mount path, as a hidden file.
    assert [(c, m) for c, m, _ in cluster.written] == [("web", "/var/cache/chaoskit/markers")]
    assert cluster.written[0][2] == ".chaoskit-marker-run-1-delete-1-web-1"
    assert [d for d, _ in undo.actions] == [f"remove marker {cluster.written[0][2]}"]  # only what was written
    unchecked = [m for m in markers if m.not_checkable]
    assert [m.not_checkable for m in unchecked] == ["no shell in container distroless"]
    # Its row comes at once, without waiting for a replacement (there is nothing to look for).
    asyncio.run(checker.after("pod-delete", unchecked, known=set(), restart=False))
    (row,) = checker.results
    assert (row.volume, row.volume_type, row.checked, row.as_expected) == ("data", "persistentVolumeClaim", False, True)
    assert row.observed == "not checkable: no shell in container distroless"


def row(survived: bool, expected: str, not_checkable: str = "") -> DataCheckResult:
    return DataCheckResult("data", "persistentVolumeClaim", "pod-delete", "pod-replaced", "same-node", survived,
                           expected, "a", "b", "n1", "n1", not_checkable=not_checkable)


def test_the_verdict_skips_rows_that_could_not_be_checked_and_the_report_shows_them() -> None:
    phases = (("baseline", 3.0), ("chaos", 20.0), ("recovery", 10.0))
    requests = synthetic_requests(duration_s=33, rate=20, outages=[Outage("ClusterIP", 11.0, 11.2)])
    events = events_frame(pod_delete_events(PodDeleteScript((11.0,), replacement_ready_s=1.0), phases=phases))
    data = [row(True, "survives"), row(False, "survives", "/data is read-only for container web")]
    summary = summarize(requests, events, data, SloTargets(data=True), experiment="x", backend="kube",
                        run_id="r", aborted=False, agent={"cpu_utilisation": 0.1})
    data_checks = [c for c in summary.verdict.checks if c.slo == "data"]
    assert len(data_checks) == 1 and data_checks[0].passed  # the unchecked row is neither a pass nor a fail
    assert not any("read-only" in r for r in summary.verdict.reasons)
    text = markdown.render(summary)
    assert "| not checkable: /data is read-only for container web | survives | not judged |" in text
    # A real loss still fails the verdict: skipping is only for rows nobody could check.
    lost = summarize(requests, events, [row(False, "survives")], SloTargets(data=True), experiment="x",
                     backend="kube", run_id="r", aborted=False, agent={"cpu_utilisation": 0.1})
    assert any(c.slo == "data" and not c.passed for c in lost.verdict.checks)
