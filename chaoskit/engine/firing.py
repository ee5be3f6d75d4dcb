"""Fires faults at their scheduled instants while load flows, with data checks around each firing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.analysis.evidence import FiringOutcome
from chaoskit.checks.markers import DataChecker, Marker
from chaoskit.cluster.protocol import ClusterError, PodInfo
from chaoskit.experiment.faults import FaultSpec
from chaoskit.faults.base import FaultContext, Injection
from chaoskit.faults.registry import FaultRegistry


@dataclass(frozen=True)
class Firing:
    """One scheduled firing: seconds after chaos begins, and the fault."""

    offset_s: float
    fault: FaultSpec


class FaultScheduler:
    """One task sleeps to each instant and spawns that firing; firings never wait for each other."""

    def __init__(self, firings: Sequence[Firing], *, registry: FaultRegistry, ctx: FaultContext,
                 checker: DataChecker) -> None:
        self._firings_planned = list(firings)
        self._registry = registry
        self._ctx = ctx
        self.checker = checker
        self._loop: asyncio.Task[None] | None = None
        self._firings: list[asyncio.Task[None]] = []
        self.outcomes: dict[str, FiringOutcome] = {}
        """Every firing that was due, by instance, as it happened (hit, missed, failed)."""
        self.notes: list[str] = []
        self.bare_victims: set[str] = set()
        """Victims that were bare Pods (no controller): nothing replaces them."""

    @property
    def planned(self) -> int:
        return len(self._firings_planned)

    def start(self, chaos_begin_ns: int) -> None:
        self._loop = asyncio.create_task(self._fire_all(chaos_begin_ns))

    async def _fire_all(self, chaos_begin_ns: int) -> None:
        counts: dict[str, int] = {}
        for firing in self._firings_planned:
            delay = (chaos_begin_ns + int(firing.offset_s * 1e9) - time.time_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            name = firing.fault.name or firing.fault.kind
            counts[name] = counts.get(name, 0) + 1
            instance = f"{name}#{counts[name]}"
            due_ns = chaos_begin_ns + int(firing.offset_s * 1e9)
            self.outcomes[instance] = self._outcome(firing.fault, instance, due_ns, error="did not finish")
            self._firings.append(asyncio.create_task(self._fire(firing.fault, instance, due_ns)))

    @staticmethod
    def _outcome(fault: FaultSpec, instance: str, due_ns: int, *, error: str = "",
                 injection: Injection | None = None) -> FiringOutcome:
        return FiringOutcome(
            instance=instance, kind=fault.kind, scheduled_ns=due_ns,
            begun_ns=injection.begun_ns if injection and injection.victims else None,
            victims_asked=fault.victims_asked(),
            victims=tuple(p.name for p in injection.victims) if injection else (),
            node=injection.node if injection else "", error=error)

    async def _fire(self, fault: FaultSpec, instance: str, due_ns: int) -> None:
        plugin = self._registry.create(fault)
        markers: list[Marker] = []
        known: set[str] = set()

        async def before(victims: list[PodInfo]) -> None:
            pods = await self._ctx.cluster.list_pods(self._ctx.namespace, self._ctx.selector)
            known.update(p.name for p in pods)
            if self.checker.enabled:
                markers.extend(await self.checker.before(instance, victims))

        try:
            injection = await plugin.inject(self._ctx, instance, before=before)
        except ClusterError as exc:
            self.outcomes[instance] = self._outcome(fault, instance, due_ns, error=f"injection failed: {exc}")
            self.notes.append(f"{instance}: injection failed: {exc}")
            return
        self.outcomes[instance] = self._outcome(fault, instance, due_ns, injection=injection)
        if not injection.victims:
            self.notes.append(f"{instance}: no matching ready pod to hit")
        if not plugin.restarts_in_place:
            markers = self._skip_bare(instance, injection, markers)
        if markers:
            await self.checker.after(plugin.kind, markers, known=known, restart=plugin.restarts_in_place)

    def _skip_bare(self, instance: str, injection: Injection, markers: list[Marker]) -> list[Marker]:
        """A bare Pod (no controller) is not replaced: say so now, and wait for no replacement."""
        bare = {p.name for p in injection.victims if not p.owner}
        for name in sorted(bare - self.bare_victims):
            self.notes.append(f"{instance}: {name} is a bare Pod (no controller): nothing replaces it, so its "
                              "traffic and data are gone for good; run it under a Deployment or StatefulSet")
        self.bare_victims |= bare
        return [m for m in markers if m.victim.name not in bare]

    async def finish(self, *, timeout_s: float) -> None:
        """Wait for pending firings and data checks (bounded); cancel what is left."""
        tasks = ([self._loop] if self._loop else []) + self._firings
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
                self.notes.append("a fault or data check did not finish in time and was cancelled")
            for task in done:
                if task.exception() is not None:
                    self.notes.append(f"a fault firing failed: {task.exception()}")
        self.notes.extend(self.checker.problems)

    def cancel(self) -> None:
        for task in ([self._loop] if self._loop else []) + self._firings:
            task.cancel()
