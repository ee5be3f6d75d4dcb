"""Data-survival checks: a unique marker file in each checked volume before a fault, looked for afterwards."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from chaoskit.checks.results import DataCheckResult
from chaoskit.cluster.protocol import Cluster, ClusterError, ClusterEvent, EventKind, PodInfo
from chaoskit.experiment import DataCheck


@dataclass(frozen=True, slots=True)
class Marker:
    check: DataCheck
    victim: PodInfo
    container: str
    mount_path: str
    volume_type: str
    name: str


def _mount(pod: PodInfo, check: DataCheck) -> tuple[str, str] | None:
    """(container, mountPath) where the pod mounts the checked volume."""
    for container in pod.containers:
        if check.container not in (None, container.name):
            continue
        if check.volume in container.mounts:
            return container.name, container.mounts[check.volume]
    return None


class DataChecker:
    """Writes markers into victims before a fault and reads them in the replacement (or restarted pod) after."""

    def __init__(self, cluster: Cluster, checks: Sequence[DataCheck], *, run_id: str, namespace: str,
                 selector: Mapping[str, str], timeout_s: float = 60.0) -> None:
        self._cluster = cluster
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
                name = re.sub(r"[^A-Za-z0-9.-]", "-", f"chaoskit-marker-{self._run_id}-{instance}-{victim.name}")
                marker = Marker(check, victim, mount[0], mount[1], victim.volumes.get(check.volume, "unknown"), name)
                await self._cluster.write_marker(victim.namespace, victim.name, marker.container, marker.mount_path,
                                                 name)
                self._cluster.record(ClusterEvent(time.time_ns(), EventKind.MARKER, victim.namespace, victim.name,
                                                  node=victim.node or "", detail=f"written {check.volume}"))
                markers.append(marker)
        return markers

    async def after(self, fault: str, markers: Sequence[Marker], *, known: set[str], restart: bool) -> None:
        """Wait for each victim's successor to be Ready, then look for the markers there."""
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
        survived = False
        if mount is not None:
            survived = await self._cluster.read_marker(successor.namespace, successor.name, mount[0], mount[1],
                                                       marker.name)
        same_node = successor.node == marker.victim.node
        placement = "same-pod" if restart else ("same-node" if same_node else "other-node")
        expect = marker.check.expect
        expected = (expect.after_container_restart if restart else
                    expect.after_pod_replaced_same_node if same_node else expect.after_pod_replaced_other_node)
        self.results.append(DataCheckResult(
            volume=marker.check.volume, volume_type=marker.volume_type, fault=fault,
            trigger="container-restart" if restart else "pod-replaced", placement=placement, survived=survived,
            expected=expected, victim=marker.victim.name, replacement=successor.name,
            victim_node=marker.victim.node or "", replacement_node=successor.node or "",
            victim_claim=marker.victim.claims.get(marker.check.volume, ""),
            replacement_claim=successor.claims.get(marker.check.volume, ""),
        ))
        self._cluster.record(ClusterEvent(time.time_ns(), EventKind.MARKER, successor.namespace, successor.name,
                                          node=successor.node or "",
                                          detail=f"{'found' if survived else 'missing'} {marker.check.volume}"))

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
