"""Where the data checker removes a marker from: the victim when it lives on, a pod on the same node for a
hostPath volume, nowhere for an emptyDir whose pod is gone; and the shell scripts kube cleanup execs."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from chaoskit.checks.markers import DataChecker, Marker
from chaoskit.cluster.kube.markers import FIND_SCRIPT, REMOVE_SCRIPT
from chaoskit.cluster.protocol import ClusterError, ContainerInfo, PodInfo, PodPhase
from chaoskit.experiment import DataCheck

MOUNT = "/data"


def pod(name: str, node: str, *, running: bool = True) -> PodInfo:
    container = ContainerInfo("web", ready=running, running=running, restart_count=0, mounts={"vol": MOUNT})
    return PodInfo("ns", name, f"uid-{name}", "10.0.0.1", node, PodPhase.RUNNING, running, False, {"app": "x"},
                   (container,), "web", 0, {"vol": "hostPath"})


class Pods:
    """The two cluster methods ``DataChecker.remove`` uses: a fixed pod list, and a log of removals."""

    def __init__(self, pods: list[PodInfo]) -> None:
        self.pods = pods
        self.removed: list[tuple[str, str, str, str]] = []

    async def list_pods(self, namespace: str, selector: Any) -> list[PodInfo]:
        return self.pods

    async def remove_marker(self, namespace: str, name: str, container: str, mount_path: str, marker: str) -> None:
        self.removed.append((name, container, mount_path, marker))


class Undo:
    def __init__(self) -> None:
        self.actions: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    def push(self, description: str, action: Callable[[], Awaitable[None]]) -> None:
        self.actions.append((description, action))


def marker(victim: PodInfo, volume_type: str) -> Marker:
    return Marker(DataCheck(volume="vol"), victim, "web", MOUNT, volume_type, "chaoskit-marker-r-f-1-victim")


def remove(cluster: Pods, item: Marker) -> None:
    checker = DataChecker(cluster, [DataCheck(volume="vol")], run_id="r", namespace="ns",  # type: ignore[arg-type]
                          selector={"app": "x"})
    asyncio.run(checker.remove(item))


@pytest.mark.unit
def test_a_surviving_victim_is_cleaned_itself() -> None:
    victim = pod("victim", "n1")
    cluster = Pods([pod("other", "n1"), victim])
    remove(cluster, marker(victim, "hostPath"))
    assert cluster.removed == [("victim", "web", MOUNT, "chaoskit-marker-r-f-1-victim")]


@pytest.mark.unit
def test_a_hostpath_marker_is_removed_through_a_running_pod_on_the_same_node() -> None:
    cluster = Pods([pod("far", "n2"), pod("stopped", "n1", running=False), pod("near", "n1")])
    remove(cluster, marker(pod("victim", "n1"), "hostPath"))
    assert [r[0] for r in cluster.removed] == ["near"]


@pytest.mark.unit
def test_a_hostpath_marker_nobody_reaches_is_said() -> None:
    cluster = Pods([pod("far", "n2")])
    with pytest.raises(ClusterError, match="stays in hostPath volume vol on node n1: no pod there mounts it"):
        remove(cluster, marker(pod("victim", "n1"), "hostPath"))


@pytest.mark.unit
def test_an_emptydir_marker_goes_with_its_pod() -> None:
    cluster = Pods([pod("near", "n1")])
    remove(cluster, marker(pod("victim", "n1"), "emptyDir"))
    assert cluster.removed == []


class WritingCluster(Pods):
    async def write_marker(self, *args: Any) -> None:
        pass

    def record(self, event: Any) -> None:
        pass


@pytest.mark.unit
def test_every_marker_written_is_registered_for_removal() -> None:
    undo = Undo()
    victims = [pod("a", "n1"), pod("b", "n2")]
    cluster = WritingCluster(victims)
    checker = DataChecker(cluster, [DataCheck(volume="vol")], run_id="r", namespace="ns",  # type: ignore[arg-type]
                          selector={"app": "x"}, undo=undo)
    written = asyncio.run(checker.before("f#1", victims))
    assert [d for d, _ in undo.actions] == [f"remove marker {m.name}" for m in written]
    for _, action in undo.actions:
        asyncio.run(action())
    assert sorted(r[3] for r in cluster.removed) == sorted(m.name for m in written)


@pytest.mark.local
def test_the_container_scripts_find_and_remove_only_markers(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    for path in (one / "chaoskit-marker-RUN1-a", one / "chaoskit-marker-RUN2-b", two / "chaoskit-marker-RUN1-c d",
                 two / "keep", two / "chaoskit-marker"):
        path.write_text("x")

    def sh(script: str, *args: str) -> tuple[int, list[str]]:
        done = subprocess.run(["sh", "-c", script, "chaoskit-marker", *args], capture_output=True, text=True,
                              check=False)
        return done.returncode, sorted(done.stdout.splitlines())

    assert sh(FIND_SCRIPT, "*", "0", str(one)) == (0, [])  # a pattern character is a literal
    assert sh(FIND_SCRIPT, "RUN1", "0", str(one), str(two), str(tmp_path / "gone")) == (
        0, [f"{one}/chaoskit-marker-RUN1-a", f"{two}/chaoskit-marker-RUN1-c d"])
    assert sh(FIND_SCRIPT, "RUN1", "1", str(one), str(two))[1] == [f"{one}/chaoskit-marker-RUN1-a",
                                                                  f"{two}/chaoskit-marker-RUN1-c d"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["chaoskit-marker",
                                                                          "chaoskit-marker-RUN2-b", "keep"]
    assert sh(REMOVE_SCRIPT, str(one), "chaoskit-marker-RUN2-b") == (0, [])
    assert not (one / "chaoskit-marker-RUN2-b").exists()
    assert sh(REMOVE_SCRIPT, str(tmp_path / "gone"), "x")[0] == 3  # not a directory
