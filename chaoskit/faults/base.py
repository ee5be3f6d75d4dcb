"""What every fault shares: the context it acts in, its victims, and the undo stack it registers with."""

from __future__ import annotations

import abc
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from chaoskit.cluster.protocol import Cluster, ClusterEvent, EventKind, PodInfo
from chaoskit.experiment.faults import FaultSpec, PodPick

Undo = Callable[[], Awaitable[None]]
BeforeHook = Callable[[list[PodInfo]], Awaitable[None]]


@dataclass
class UndoStack:
    """Undo actions registered by faults; ``run_all`` runs them newest first, every one, on any exit path."""

    actions: list[tuple[str, Undo]] = field(default_factory=list)

    def push(self, description: str, action: Undo) -> None:
        self.actions.append((description, action))

    async def run_all(self) -> list[str]:
        """Run every undo action; returns the descriptions of those that failed (with their error)."""
        failures = []
        while self.actions:
            description, action = self.actions.pop()
            try:
                await action()
            except Exception as exc:  # every undo must get its chance to run
                failures.append(f"{description}: {exc}")
        return failures


@dataclass
class FaultContext:
    cluster: Cluster
    namespace: str
    selector: Mapping[str, str]
    rng: random.Random
    undo: UndoStack


@dataclass(frozen=True, slots=True)
class Injection:
    """One firing of a fault: its instance id and the pods it hit (as they were just before)."""

    instance: str
    kind: str
    victims: tuple[PodInfo, ...]
    node: str = ""
    begun_ns: int = 0


class FaultPlugin(abc.ABC):
    """One fault kind: its spec model, its behaviour flags, and how it picks victims and acts.

    ``inject`` records begin/end events; ``act`` must push its own undo actions. Third-party plugins are
    classes like the built-in ones, registered through the ``chaoskit.faults`` entry-point group.
    """

    kind: ClassVar[str]
    """The ``kind`` experiment files name it by; equal to ``spec_model``'s ``kind`` literal."""
    spec_model: ClassVar[type[FaultSpec]]
    """The pydantic model of its entry in an experiment's ``faults`` (extends ``FaultSpec``)."""
    restarts_in_place: ClassVar[bool] = False
    """True when the victim pod survives (a container restarts in it) instead of being replaced: data checks
    then look in the same pod, recovery waits for the same pod to be Ready again."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec

    async def preflight(self, cluster: Cluster) -> None:
        """Before anything is applied: refuse a cluster this fault must not or cannot run on, by raising an
        ``UnsafeTargetError`` (the CLI's exit 2, nothing changed). Most faults have nothing to check."""
        return None

    @abc.abstractmethod
    async def choose(self, ctx: FaultContext) -> tuple[list[PodInfo], str]:
        """The victim pods (and the node, for node faults) of the next firing."""

    @abc.abstractmethod
    async def act(self, ctx: FaultContext, victims: list[PodInfo], node: str) -> None:
        """Do the damage."""

    async def inject(self, ctx: FaultContext, instance: str, *, before: BeforeHook | None = None) -> Injection:
        """Choose victims, run ``before`` (e.g. write data markers), then act, with begin/end events."""
        victims, node = await self.choose(ctx)
        if before is not None:
            await before(victims)
        begun = time.time_ns()
        for pod in victims:
            ctx.cluster.record(ClusterEvent(begun, EventKind.FAULT_BEGIN, ctx.namespace, instance,
                                            node=pod.node or node, ip=pod.ip or "",
                                            detail=f"{self.kind}|{pod.name}"))
        try:
            await self.act(ctx, victims, node)
        finally:
            ctx.cluster.record(ClusterEvent(time.time_ns(), EventKind.FAULT_END, ctx.namespace, instance,
                                            node=node, detail=self.kind))
        return Injection(instance, self.kind, tuple(victims), node, begun)


async def pick_pods(ctx: FaultContext, pick: PodPick) -> list[PodInfo]:
    """Ready, non-terminating pods matching the pick's selector, chosen as the pick says."""
    selector = pick.selector or ctx.selector
    pods = [p for p in await ctx.cluster.list_pods(ctx.namespace, selector) if p.ready and not p.terminating]
    count = pick.victims(len(pods))
    if pick.pick == "oldest":
        return sorted(pods, key=lambda p: p.created_ns)[:count]
    if pick.pick == "newest":
        return sorted(pods, key=lambda p: p.created_ns, reverse=True)[:count]
    # Sampled by position in creation order, so a seed replays the same choices (pod names differ
    # between runs on a real cluster; "the second-oldest pod" does not).
    return ctx.rng.sample(sorted(pods, key=lambda p: (p.created_ns, p.name)), count)
