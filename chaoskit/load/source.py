"""Where load comes from: one or more agents behind one interface, as the engine and collector see them.

A ``LoadSource`` is an agent process on this host (``LoadAgent``) or an agent Job inside the cluster
(``chaoskit.cluster.kube.incluster.InClusterAgent``). ``LoadGroup`` runs several as one: records are
concatenated (each frame already names its Service and type), reports merged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import pandas as pd

from chaoskit.load.decode import concat_frames, no_records
from chaoskit.load.plan import LoadPlan
from chaoskit.load.report import AgentError, AgentReport, merge_reports
from chaoskit.vocab import LoadOrigin

Origin = LoadOrigin
"""``local`` or ``in-cluster`` (never ``auto``: that is resolved before an agent starts)."""


class LoadSource(Protocol):
    """One agent: ``start`` (returns once ready, t0 known), ``take_records`` while it runs, ``wait``, ``stop``."""

    plan: LoadPlan
    notes: list[str]
    """What the report should say about this source (e.g. a clock difference)."""

    @property
    def t0_ns(self) -> int | None: ...

    async def start(self) -> None: ...

    def take_records(self) -> pd.DataFrame: ...

    def check(self) -> None: ...

    async def wait(self, timeout_s: float) -> AgentReport: ...

    async def stop(self) -> None: ...


@runtime_checkable
class InClusterLoad(Protocol):
    """A cluster that can run load from inside itself (the kube backend)."""

    async def load_origin(self, namespace: str, service: str) -> Origin: ...

    def in_cluster_agent(self, namespace: str, plan: LoadPlan, *, start_timeout_s: float) -> LoadSource: ...


class LoadGroup:
    """Several load sources as one, each with where it runs (for the report)."""

    def __init__(self) -> None:
        self.sources: list[tuple[Origin, LoadSource]] = []

    def add(self, origin: Origin, source: LoadSource) -> None:
        self.sources.append((origin, source))

    @property
    def notes(self) -> list[str]:
        return [note for _, source in self.sources for note in source.notes]

    def take_records(self) -> pd.DataFrame:
        frames = [s.take_records() for _, s in self.sources]
        non_empty = [f for f in frames if len(f)]
        if non_empty:
            return concat_frames(non_empty)
        return frames[0] if frames else no_records()

    def check(self) -> None:
        for _, source in self.sources:
            source.check()

    async def wait(self, timeout_s: float) -> AgentReport:
        if not self.sources:
            raise AgentError("no load source was started, so there is nothing to wait for")
        reports: Sequence[AgentReport] = await asyncio.gather(*(s.wait(timeout_s) for _, s in self.sources))
        return merge_reports(reports)

    async def stop(self) -> None:
        """Stop every source, also when one of them fails to stop."""
        results = await asyncio.gather(*(s.stop() for _, s in self.sources), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
