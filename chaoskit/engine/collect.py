"""Collects request records from the load agents and events from the cluster while a run goes on.

Records pass through: each batch goes to the observers (metrics, live view) and then to the spool, which
writes them to requests.parquet in row groups. The collector itself keeps no request, so a run's memory does
not grow with its length (``spool.max_held`` is its own account of the rows it ever held at once). Events
are few (a handful per pod) and stay in memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pandas as pd

from chaoskit.cluster.protocol import ClusterEvent, EventStream
from chaoskit.engine.observer import Observers
from chaoskit.engine.spool import RequestSpool, StoredRequests
from chaoskit.load.source import LoadGroup
from chaoskit.vocab import EVENT_COLUMNS

PUMP_INTERVAL_S = 0.25
REQUESTS_FILE = "requests.parquet"


class Collector:
    """Pulls records and events every ``PUMP_INTERVAL_S``, hands them to the observers, spools the records
    into ``<run dir>/requests.parquet``."""

    def __init__(self, observers: Observers, run_dir: Path) -> None:
        self._observers = observers
        self.spool = RequestSpool(run_dir / REQUESTS_FILE)
        self._events: list[ClusterEvent] = []
        self._stream: EventStream | None = None
        self._agent: LoadGroup | None = None
        self._pump: asyncio.Task[None] | None = None

    def watch(self, stream: EventStream) -> None:
        self._stream = stream
        self._pump = asyncio.create_task(self._pump_loop())

    def start(self, agent: LoadGroup) -> None:
        self._agent = agent

    async def _pump_loop(self) -> None:
        while True:
            await asyncio.sleep(PUMP_INTERVAL_S)
            self.drain_events()
            self._take_records()

    def drain_events(self) -> None:
        if self._stream is None:
            return
        for event in self._stream.drain():
            self._events.append(event)
            self._observers.on_event(event)

    def _take_records(self) -> None:
        if self._agent is None:
            return
        frame = self._agent.take_records()
        if len(frame):
            self._observers.on_records(frame)
            self.spool.append(frame)

    def stop(self) -> None:
        """Take what is left; the pump stops."""
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        self.drain_events()
        self._take_records()

    def requests(self) -> StoredRequests:
        """The requests table, complete on disk (call after ``stop``)."""
        return self.spool.finish()

    def events(self) -> pd.DataFrame:
        rows = [dataclasses.asdict(e) for e in sorted(self._events, key=lambda e: e.ts_ns)]
        frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
        frame["kind"] = frame["kind"].astype(str)
        frame["ts_ns"] = frame["ts_ns"].astype("int64")
        frame["source_ts_ns"] = frame["source_ts_ns"].astype("Int64")
        return frame
