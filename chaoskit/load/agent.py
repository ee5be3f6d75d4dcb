"""The load agent on this host: one Locust process running the whole plan, its records streamed to chaoskit.

``LoadAgent`` is the single-process agent (``workers: 1``); ``chaoskit.load.workers.LocalWorkers`` spreads a
plan over Locust's master and N worker processes, and ``chaoskit.load.workers.local_agent`` picks the one a
plan asks for. Locust is never imported here (``chaoskit.load.process`` explains the pipes).
"""

from __future__ import annotations

import sys
from types import TracebackType

import pandas as pd

from chaoskit.load.plan import LoadPlan, LoadTarget
from chaoskit.load.process import AgentProcess
from chaoskit.load.records import RECORD
from chaoskit.load.report import AgentError, AgentReport, check_stream_end, combine, worker_report
from chaoskit.load.stream import RecordStream

__all__ = ["AgentError", "AgentReport", "LoadAgent", "LoadPlan", "LoadTarget"]


class LoadAgent:
    """One agent process for one plan: ``start``, then ``take_records`` as often as wanted, ``wait``."""

    def __init__(self, plan: LoadPlan, *, python: str = sys.executable,
                 start_timeout_s: float = 60.0, stop_grace_s: float = 2.0) -> None:
        self.plan = plan
        self.notes: list[str] = []
        self._start_timeout_s = start_timeout_s
        self._stop_grace_s = stop_grace_s
        self._process = AgentProcess(plan, python=python)
        self._records = RecordStream(plan)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def t0_ns(self) -> int | None:
        """Scheduled instant of every target's first request, once the agent is ready."""
        ready = self._process.message("ready")
        return int(ready["t0_ns"]) if ready else None

    @property
    def pending(self) -> int:
        """Records received and not yet taken (the collector keeps this bounded)."""
        return self._records.pending + len(self._process.records) // RECORD.size

    async def __aenter__(self) -> LoadAgent:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """Spawn the agent (own process group, dies with us) and wait until it is ready to load."""
        process = self._process
        process.spawn()
        self._records.tally.where = f"pid {process.pid}"
        ready = await process.until(lambda: process.message("ready") is not None or process.exited,
                                    self._start_timeout_s)
        if ready and process.message("ready") is not None:
            return
        await process.stop(self._stop_grace_s)
        tail = process.tail()
        process.close()
        if not ready:
            raise AgentError(f"load agent not ready after {self._start_timeout_s:g} s", output_tail=tail)
        raise AgentError(f"load agent exited with code {process.returncode} before it was ready",
                         output_tail=tail)

    @property
    def returncode(self) -> int | None:
        """The agent's exit code once it has exited (negative: killed by that signal)."""
        return self._process.returncode

    def check(self) -> None:
        """Raise ``AgentError`` if the agent died before finishing (cheap; call it while loading)."""
        code = self.returncode
        if code is not None and (code != 0 or self._process.message("done") is None):
            raise AgentError(f"load agent exited with code {code} during the run",
                             output_tail=self._process.tail())

    def take_records(self) -> pd.DataFrame:
        """Every record decoded since the last call (columns as in ``records.STORED_COLUMNS``)."""
        self._records.decode_whole(self._process.records)
        return self._records.take()

    async def wait(self, timeout_s: float) -> AgentReport:
        """Wait for the agent to finish its plan (or die: the report then says the load was not delivered);
        the rest of the records stay for ``take_records``."""
        process = self._process
        if process.pid is None:
            raise AgentError("wait() before start()")
        if not await process.until(lambda: process.drained, timeout_s):
            await process.stop(self._stop_grace_s)
            tail = process.tail()
            process.close()
            raise AgentError(f"load agent still running after {timeout_s:g} s; stopped it", output_tail=tail)
        self._records.decode_whole(process.records)
        check_stream_end(len(process.records), output_tail=process.tail)
        worker = worker_report(self.plan, self._records.final_tally(), process.message("done"),
                               process.returncode)
        return combine(self.plan.rate * len(self.plan.targets), [worker], planned=self.plan.planned_requests())

    async def stop(self) -> None:
        """SIGTERM the agent's process group, SIGKILL after a grace; idempotent, safe on abort paths."""
        await self._process.stop(self._stop_grace_s)
        self._process.close()
