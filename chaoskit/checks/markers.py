"""Data-survival checks: a unique marker file in each checked volume before a fault, looked for afterwards.

The marker is a hidden file (``.chaoskit-marker-<run>-<firing>-<pod>``) at the volume's mount path, or in the
directory ``data[].path`` below it. A container that cannot hold one (no shell for the exec commands, a
read-only directory) gives a row that says so ("not checkable: ..."): neither lost nor survived.

Every marker written is also registered for removal on the engine's undo stack, so it goes on every exit
path: from the victim when it lives on (a restarted container), else, for a hostPath volume (which outlives
the pod), through a pod on the same node that mounts the same volume; when there is none, the undo fails
and the run's notes say where the marker stays.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from chaoskit.checks.results import DataCheckResult
from chaoskit.cluster.protocol import Cluster, ClusterError, ClusterEvent, EventKind, MarkerUnsupportedError, PodInfo
from chaoskit.experiment import DataCheck

MARKER_PREFIX = ".chaoskit-marker-"
"""Hidden (a directory listing or a web server's index skips it); ``chaoskit cleanup --backend kube`` looks for it."""


@dataclass(frozen=True, slots=True)
class Marker:
    check: DataCheck
    victim: PodInfo
    container: str
    mount_path: str
    """The directory the marker is in: the volume's mount path, joined with ``check.path``."""
    volume_type: str
    name: str
    not_checkable: str = ""
    """Why it could not be written (no shell, read-only): then nothing was written and nothing is read."""


class UndoRegistry(Protocol):
    """Where undo actions go (the engine's ``UndoStack``): run newest first on every exit path."""

    def push(self, description: str, action: Callable[[], Awaitable[None]]) -> None: ...


def _mount(pod: PodInfo, check: DataCheck) -> tuple[str, str] | None:
    """(container, directory of the markers): where the pod mounts the checked volume, with ``check.path``."""
    for container in pod.containers:
        if check.container not in (None, container.name):
            continue
        if check.volume in container.mounts:
            mount = container.mounts[check.volume]
            return container.name, f"{mount.rstrip('/')}/{check.path}" if check.path else mount
    return None


class DataChecker:
    """Writes markers into victims before a fault and reads them in the replacement (or restarted pod) after."""

    def __init__(self, cluster: Cluster, checks: Sequence[DataCheck], *, run_id: str, namespace: str,
                 selector: Mapping[str, str], timeout_s: float = 60.0, undo: UndoRegistry | None = None) -> None:
        self._cluster = cluster
        self._undo = undo
        self._checks = list(checks)
        self._run_id = re.sub(r"[^A-Za-z0-9-]", "-", run_id)
        self._namespace = namespace
        self._selector = selector
        self._timeout_s = timeout_s
        self._claimed: set[str] = set()
        self.results: list[DataCheckResult] = []
        self.problems: list[str] = []

    @property
    def enabled(self) -> bool:
        return bool(self._checks)

    async def before(self, instance: str, victims: Sequence[PodInfo]) -> list[Marker]:
        markers = []
        for victim in victims:
            for check in self._checks:
                mount = _mount(victim, check)
                if mount is None:
                    self.problems.append(f"{victim.name} does not mount volume {check.volume}")
                    continue
                name = re.sub(r"[^A-Za-z0-9.-]", "-", f"{MARKER_PREFIX}{self._run_id}-{instance}-{victim.name}")
                marker = Marker(check, victim, mount[0], mount[1], victim.volumes.get(check.volume, "unknown"), name)
                markers.append(await self._write(marker))
        return markers

    async def _write(self, marker: Marker) -> Marker:
        """Write one marker and register its removal; a container that cannot hold it gives an unchecked one."""
        victim = marker.victim
        try:
            await self._cluster.write_marker(victim.namespace, victim.name, marker.container, marker.mount_path,
                                             marker.name)
        except MarkerUnsupportedError as exc:
            return dataclasses.replace(marker, not_checkable=exc.reason)
        if self._undo is not None:
            self._undo.push(f"remove marker {marker.name}", functools.partial(self.remove, marker))
        self._cluster.record(ClusterEvent(time.time_ns(), EventKind.MARKER, victim.namespace, victim.name,
                                          node=victim.node or "", detail=f"written {marker.check.volume}"))
        return marker

    async def after(self, fault: str, markers: Sequence[Marker], *, known: set[str], restart: bool) -> None:
        """Wait for each victim's successor to be Ready, then look for the markers there. A marker that could not
        be written gives its row at once (not checkable): there is nothing to look for."""
        for marker in (m for m in markers if m.not_checkable):
            self.results.append(self._result(fault, marker, None, restart=restart, survived=False))
        markers = [m for m in markers if not m.not_checkable]
        victims = {m.victim.name: m.victim for m in markers}
        for name, victim in victims.items():
            try:
                successor = await (self._restarted(victim) if restart else self._replacement(victim, known))
            except ClusterError as exc:
                self.problems.append(f"{fault}: no successor for {name}: {exc}")
                continue
            for marker in (m for m in markers if m.victim.name == name):
                await self._read(fault, marker, successor, restart=restart)

    async def _read(self, fault: str, marker: Marker, successor: PodInfo, *, restart: bool) -> None:
        mount = _mount(successor, marker.check)
        survived, unchecked = False, ""
        if mount is not None:
            try:
                survived = await self._cluster.read_marker(successor.namespace, successor.name, mount[0], mount[1],
                                                           marker.name)
            except MarkerUnsupportedError as exc:
                unchecked = exc.reason
        self.results.append(self._result(fault, dataclasses.replace(marker, not_checkable=unchecked), successor,
                                         restart=restart, survived=survived))
        detail = f"unchecked {marker.check.volume}" if unchecked else (
            f"{'found' if survived else 'missing'} {marker.check.volume}")
        self._cluster.record(ClusterEvent(time.time_ns(), EventKind.MARKER, successor.namespace, successor.name,
                                          node=successor.node or "", detail=detail))

    @staticmethod
    def _result(fault: str, marker: Marker, successor: PodInfo | None, *, restart: bool,
                survived: bool) -> DataCheckResult:
        """The row of one marker: where it was read (no successor: it was never written) and what was seen."""
        victim = marker.victim
        same_node = successor is None or successor.node == victim.node
        placement = "same-pod" if restart else ("same-node" if same_node else "other-node")
        expect = marker.check.expect
        expected = (expect.after_container_restart if restart else
                    expect.after_pod_replaced_same_node if same_node else expect.after_pod_replaced_other_node)
        return DataCheckResult(
            volume=marker.check.volume, volume_type=marker.volume_type, fault=fault,
            trigger="container-restart" if restart else "pod-replaced", placement=placement, survived=survived,
            expected=expected, victim=victim.name, replacement=successor.name if successor else "",
            victim_node=victim.node or "", replacement_node=(successor.node or "") if successor else "",
            victim_claim=victim.claims.get(marker.check.volume, ""),
            replacement_claim=successor.claims.get(marker.check.volume, "") if successor else "",
            not_checkable=marker.not_checkable,
        )

    async def remove(self, marker: Marker) -> None:
        """Remove ``marker`` from its volume wherever that volume can still be reached (see the module doc)."""
        holder = await self._holder(marker)
        if holder is not None:
            pod, (container, mount_path) = holder
            await self._cluster.remove_marker(pod.namespace, pod.name, container, mount_path, marker.name)
        elif marker.volume_type == "hostPath":
            raise ClusterError(f"marker {marker.name} stays in hostPath volume {marker.check.volume} on node "
                               f"{marker.victim.node}: no pod there mounts it any more",
                               hint="`chaoskit cleanup` removes it once a pod mounts the volume on that node")
        # Any other volume (emptyDir) went with its pod: nothing is left.

    async def _holder(self, marker: Marker) -> tuple[PodInfo, tuple[str, str]] | None:
        """A pod (and container, mount path) that still mounts the marker's volume: the victim itself, else for
        hostPath a running pod on the victim's node."""
        pods = await self._cluster.list_pods(self._namespace, self._selector)
        victim = next((p for p in pods if p.uid == marker.victim.uid), None)
        candidates = [victim] if victim is not None else []
        if marker.volume_type == "hostPath":
            candidates += sorted((p for p in pods if p.node == marker.victim.node and p.uid != marker.victim.uid),
                                 key=lambda p: (p.terminating, not p.ready))
        for pod in candidates:
            mount = _mount(pod, marker.check)
            if mount is not None and any(c.running for c in pod.containers if c.name == mount[0]):
                return pod, mount
        return None

    async def _replacement(self, victim: PodInfo, known: set[str]) -> PodInfo:
        """A new pod of the victim's owner: a StatefulSet's keeps the victim's name (a new uid), a Deployment's
        has a name not seen before the fault."""
        async def candidate() -> PodInfo | None:
            pods = await self._cluster.list_pods(self._namespace, self._selector)
            fresh = [p for p in pods if p.uid not in self._claimed and p.ready and not p.terminating
                     and p.owner == victim.owner
                     and (p.name not in known or (p.name == victim.name and p.uid != victim.uid))]
            fresh.sort(key=lambda p: p.name != victim.name)  # the same identity first
            return fresh[0] if fresh else None

        pod = await self._poll(candidate, f"a Ready replacement for {victim.name}")
        self._claimed.add(pod.uid)
        return pod

    async def _restarted(self, victim: PodInfo) -> PodInfo:
        async def candidate() -> PodInfo | None:
            pods = await self._cluster.list_pods(self._namespace, self._selector)
            same = [p for p in pods if p.uid == victim.uid and p.ready and p.restart_count > victim.restart_count]
            return same[0] if same else None

        return await self._poll(candidate, f"{victim.name} restarted and Ready")

    async def _poll(self, candidate: Callable[[], Awaitable[PodInfo | None]], what: str) -> PodInfo:
        """Re-check on every cluster event (a watch), bounded by the check timeout."""
        subscription = self._cluster.subscribe()
        deadline = time.monotonic() + self._timeout_s
        try:
            while True:
                found = await candidate()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ClusterError(f"no {what} within {self._timeout_s:g}s")
                await subscription.wait(min(remaining, 0.5))
                subscription.drain()
        finally:
            subscription.close()
