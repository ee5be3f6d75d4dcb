"""Load from several processes on this host: Locust's own distributed mode (a MasterRunner process and N
WorkerRunner processes, ``chaoskit.load.gdist``), seen by the engine as one load source.

Each worker runs requests k, k+N, k+2N... of every target's schedule from the master's one instant, so the
merged stream is the single agent's schedule, instant for instant; each streams its records straight to
chaoskit over its own pipe (the master only coordinates). On this host every process reads the same clock:
the master still measures each worker's offset (reported, expected ~0) but nothing is corrected. A worker
that dies is not replaced and its share is not taken over: the report says the load was not delivered.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Final

import pandas as pd

from chaoskit.load import roles
from chaoskit.load.agent import LoadAgent
from chaoskit.load.plan import LoadPlan, Share
from chaoskit.load.process import AgentProcess
from chaoskit.load.records import RECORD
from chaoskit.load.report import AgentError, AgentReport, check_stream_end, combine, worker_report
from chaoskit.load.stream import RecordStream, take_all

MASTER_LINGER_S: Final = 10.0
"""After the last worker ended, the master has this long to notice and exit by itself."""


def local_agent(plan: LoadPlan, *, python: str = sys.executable, start_timeout_s: float = 60.0,
                stop_grace_s: float = 2.0) -> LoadAgent | LocalWorkers:
    """The agent a plan asks for: one process, or Locust's master and ``plan.workers`` worker processes."""
    if plan.workers == 1:
        return LoadAgent(plan, python=python, start_timeout_s=start_timeout_s, stop_grace_s=stop_grace_s)
    return LocalWorkers(plan, python=python, start_timeout_s=start_timeout_s, stop_grace_s=stop_grace_s)


class LocalWorkers:
    """A Locust master and ``plan.workers`` worker processes: ``start``, ``take_records``, ``wait``, ``stop``."""

    def __init__(self, plan: LoadPlan, *, python: str = sys.executable, start_timeout_s: float = 60.0,
                 stop_grace_s: float = 2.0) -> None:
        self.plan = plan
        self.notes: list[str] = []
        self._python = python
        self._start_timeout_s = start_timeout_s
        self._stop_grace_s = stop_grace_s
        self._changed = asyncio.Event()
        common = {roles.START_TIMEOUT: f"{start_timeout_s:g}"}
        self._master = AgentProcess(plan, role="master", records=False, python=python, changed=self._changed,
                                    env={**common, roles.MASTER_BIND: "127.0.0.1:0", roles.SAME_CLOCK: "1"},
                                    name="load master")
        self._env = common
        self._workers: list[AgentProcess] = []
        self._streams: list[RecordStream] = []

    @property
    def processes(self) -> list[AgentProcess]:
        return [self._master, *self._workers]

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.pid is not None]

    @property
    def t0_ns(self) -> int | None:
        ready = self._master.message("ready")
        return int(ready["t0_ns"]) if ready else None

    @property
    def pending(self) -> int:
        """Records received and not yet taken."""
        return sum(s.pending + len(w.records) // RECORD.size for w, s in zip(self._workers, self._streams,
                                                                               strict=True))

    async def start(self) -> None:
        """Start the master, then the workers on its port; return once all are ready (t0 known)."""
        master = self._master
        master.spawn()
        listening = await master.until(lambda: master.message("listening") is not None or master.exited,
                                       self._start_timeout_s)
        message = master.message("listening")
        if not listening or message is None:
            await self._fail("the load master did not start listening")
        assert message is not None
        env = {**self._env, roles.MASTER_HOST: "127.0.0.1", roles.MASTER_PORT: str(message["port"])}
        for k in range(self.plan.workers):
            worker = AgentProcess(self.plan, role="worker", env=env, python=self._python, changed=self._changed,
                                  name=f"load worker {k}")
            self._workers.append(worker)
            worker.spawn()
            self._streams.append(RecordStream(self.plan, where=f"pid {worker.pid}"))
        if not await master.until(self._all_ready, self._start_timeout_s):
            await self._fail(f"the load master and {self.plan.workers} workers were not ready "
                             f"after {self._start_timeout_s:g} s")
        if not all(p.message("ready") is not None for p in self.processes):
            await self._fail("a load process exited before it was ready")
        self._label_streams()

    def _all_ready(self) -> bool:
        return all(p.message("ready") is not None for p in self.processes) or any(p.exited for p in self.processes)

    def _label_streams(self) -> None:
        clocks = {int(w["index"]): w for w in self._master.messages["ready"].get("workers", [])}
        for worker, stream in zip(self._workers, self._streams, strict=True):
            index = int(worker.messages["ready"]["worker"])
            stream.tally.worker, stream.tally.share = f"local/{index}", Share(index, self.plan.workers)
            clock = clocks.get(index, {})
            # One host, one clock: the measured offset is the measurement's own error, reported, not applied.
            stream.tally.clock_offset_ms = round(int(clock.get("offset_ns", 0)) / 1e6, 3)
            stream.tally.clock_uncertainty_ms = round(int(clock.get("delay_ns", 0)) / 2e6, 3)
        shares = sorted(s.tally.share.index for s in self._streams)
        if shares != list(range(self.plan.workers)):
            raise AgentError(f"load workers took shares {shares}, expected 0..{self.plan.workers - 1}")

    async def _fail(self, why: str) -> None:
        await self.stop_processes()
        tails = "\n".join(f"--- {p.name} (exit {p.returncode}) ---\n{p.tail()}" for p in self.processes)
        for p in self.processes:
            p.close()
        raise AgentError(why, output_tail=tails)

    def check(self) -> None:
        """Raise ``AgentError`` if a worker died before finishing (cheap; call it while loading)."""
        for worker in self._workers:
            code = worker.returncode
            if code is not None and (code != 0 or worker.message("done") is None):
                raise AgentError(f"{worker.name} exited with code {code} during the run", output_tail=worker.tail())

    def take_records(self) -> pd.DataFrame:
        """Every worker's records decoded since the last call, as one frame."""
        for worker, stream in zip(self._workers, self._streams, strict=True):
            stream.decode_whole(worker.records)
        return take_all(self._streams, self.plan)

    async def wait(self, timeout_s: float) -> AgentReport:
        """Wait for every worker to end (a dead one is reported, not raised), then for the master."""
        if not self._workers:
            raise AgentError("wait() before start()")
        if not await self._master.until(lambda: all(w.drained for w in self._workers), timeout_s):
            await self._fail(f"load workers still running after {timeout_s:g} s; stopped them")
        if not await self._master.until(lambda: self._master.exited, MASTER_LINGER_S):
            self.notes.append("the load master did not exit after its workers; stopped it")
            await self._master.stop(self._stop_grace_s)
        reports = []
        for worker, stream in zip(self._workers, self._streams, strict=True):
            stream.decode_whole(worker.records)
            check_stream_end(len(worker.records), output_tail=worker.tail)
            reports.append(worker_report(self.plan, stream.final_tally(), worker.message("done"),
                                         worker.returncode))
        if self._master.returncode:
            self.notes.append(f"the load master exited with code {self._master.returncode} "
                              "(the workers' records are complete on their own)")
        return combine(self.plan.rate * len(self.plan.targets), reports, planned=self.plan.planned_requests())

    async def stop_processes(self) -> None:
        await asyncio.gather(*(p.stop(self._stop_grace_s) for p in self.processes))

    async def stop(self) -> None:
        """Stop every process (workers and master at once); idempotent, safe on abort paths."""
        await self.stop_processes()
        for p in self.processes:
            p.close()
