"""Locust's distributed mode in the cluster: a master pod and N worker pods, one load source for the engine.

``start`` applies the master's Job and waits for its pod (it needs an IP), measures the master's clock against
this host's with round trips over an exec session (``agentclock``), applies one Job per worker pointing at the
master's pod IP, follows every pod's log, and returns once the master has announced t0 and every worker its
share. The master measures each worker's clock against its own over Locust's control channel and gives each
worker t0 on that worker's clock; so each worker's records are put on the run's clock by subtracting
(worker - master) + (master - run), within ± the two half round trips, reported per worker.

Records come back through each worker's own pod log, like the single agent's, not through the master: the
master would serialise N workers' records through one process and one log stream (the bottleneck the workers
exist to remove), and a worker's records still arrive when the master dies. One Job per worker with
backoffLimit 0: a failed worker is never replaced behind our back, and does not make the Job controller stop
the others; the report says its share was not delivered.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Final

import pandas as pd

from chaoskit.cluster.kube import agentclock, loadjob
from chaoskit.cluster.kube.incluster import deadline_s
from chaoskit.cluster.kube.podlog import AgentDeps, PodLog, wait_pods_started
from chaoskit.cluster.protocol import ClusterError
from chaoskit.load.plan import LoadPlan, Share
from chaoskit.load.report import AgentError, AgentReport, check_stream_end, combine, worker_report
from chaoskit.load.stream import RecordStream, take_all, until_changed

MASTER_LINGER_S: Final = 15.0
"""After the last worker's log ended, the master's has this long to end by itself."""


class InClusterWorkers:
    """A Locust master pod and ``plan.workers`` worker pods: ``start``, ``take_records``, ``wait``, ``stop``."""

    def __init__(self, deps: AgentDeps, namespace: str, plan: LoadPlan, *, start_timeout_s: float, image: str,
                 cpu: str = "1") -> None:
        self.plan = plan
        self.notes: list[str] = []
        self._deps = deps
        self._start_timeout_s = start_timeout_s
        self._base = loadjob.AgentJobSpec(namespace=namespace, run_id=deps.run_id, plan_json=plan.to_json(),
                                          deadline_s=deadline_s(plan, start_timeout_s), image=image, cpu=cpu,
                                          start_timeout_s=start_timeout_s)
        self._objects: list[dict[str, Any]] = loadjob.render(dataclasses.replace(self._base, role="master"))
        self._applied = False
        self._changed = asyncio.Event()
        self._master: PodLog | None = None
        self._master_clock = agentclock.ClockSample(0, 0)
        self._logs: list[PodLog] = []
        self._streams: list[RecordStream] = []

    @property
    def namespace(self) -> str:
        return self._base.namespace

    @property
    def t0_ns(self) -> int | None:
        """The first request's instant on the run's clock (the master's, corrected)."""
        ready = self._master.message("ready") if self._master else None
        return int(ready["t0_ns"]) - self._master_clock.offset_ns if ready else None

    @property
    def pending(self) -> int:
        return sum(s.pending for s in self._streams)

    # -- start -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._applied:
            raise AgentError("these in-cluster workers were already started; use new ones per run")
        self._applied = True
        try:
            master_ip = await self._start_master()
            await self._start_workers(master_ip)
        except BaseException:
            await self.stop()
            raise
        ready = await until_changed(self._changed, self._all_ready_or_ended, self._start_timeout_s)
        if not ready or not self._all_ready():
            await self._fail("not ready" if not ready else "ended before it was ready")
        self._label_streams()

    async def _start_master(self) -> str:
        base, deps = self._base, self._deps
        await deps.apply(self._objects)
        (pod,) = await wait_pods_started(deps, base.namespace, loadjob.role_pod_selector(base.run_id, "master"), 1,
                                         timeout_s=self._start_timeout_s, image=base.image, cpu="100m",
                                         need_ip=True)
        self._master = self._follow(pod)
        try:
            self._master_clock = await asyncio.to_thread(agentclock.measure, deps.api, base.namespace, pod)
        except ClusterError as exc:
            self.notes.append(f"in-cluster load master clock not measured ({exc}); worker records carry their "
                              "nodes' clocks, corrected only against the master's")
        found = deps.watchers.pod(base.namespace, pod) or {}
        return str(found.get("status", {}).get("podIP", ""))

    async def _start_workers(self, master_ip: str) -> None:
        base = self._base
        jobs = [loadjob.render_job(dataclasses.replace(base, role="worker", master_host=master_ip, index=k))
                for k in range(self.plan.workers)]
        self._objects += jobs
        await self._deps.apply(jobs)
        pods = await wait_pods_started(self._deps, base.namespace, loadjob.role_pod_selector(base.run_id, "worker"),
                                       self.plan.workers, timeout_s=self._start_timeout_s, image=base.image,
                                       cpu=base.cpu)
        for pod in pods:
            self._logs.append(self._follow(pod))
            self._streams.append(RecordStream(self.plan, worker="in-cluster/?", where=f"pod {pod}"))

    def _follow(self, pod: str) -> PodLog:
        log = PodLog(self._deps.api, self._base.namespace, pod, changed=self._changed,
                     read_timeout_s=self._base.deadline_s)
        log.start()
        return log

    def _all_ready(self) -> bool:
        return all(log.message("ready") is not None for log in self._every_log())

    def _all_ready_or_ended(self) -> bool:
        return self._all_ready() or any(log.ended.is_set() for log in self._every_log())

    def _every_log(self) -> list[PodLog]:
        return [*([self._master] if self._master else []), *self._logs]

    async def _fail(self, why: str) -> None:
        logs = self._every_log()
        tails = "\n".join(f"--- pod {log.pod} ---\n{log.tail()}" for log in logs)
        await self.stop()
        for log in logs:
            log.raise_if_no_locust(self._base.image)
        raise AgentError(f"in-cluster load master and {self.plan.workers} workers: {why} "
                         f"(start timeout {self._start_timeout_s:g} s)", output_tail=tails)

    def _label_streams(self) -> None:
        assert self._master is not None
        ready = self._master.message("ready") or {}
        clocks = {int(w["index"]): w for w in ready.get("workers", [])}
        master = self._master_clock
        for log, stream in zip(self._logs, self._streams, strict=True):
            index = int((log.message("ready") or {})["worker"])
            clock = clocks.get(index, {})
            applied = int(clock.get("applied_ns", 0))
            stream.tally.worker, stream.tally.share = f"in-cluster/{index}", Share(index, self.plan.workers)
            stream.offset_ns = applied + master.offset_ns
            stream.tally.clock_offset_ms = round(stream.offset_ns / 1e6, 3)
            stream.tally.clock_uncertainty_ms = round((int(clock.get("delay_ns", 0)) + master.delay_ns) / 2e6, 3)
        shares = sorted(s.tally.share.index for s in self._streams)
        if shares != list(range(self.plan.workers)):
            raise AgentError(f"in-cluster load workers took shares {shares}, expected 0..{self.plan.workers - 1}")

    # -- records -----------------------------------------------------------------------------------------
    def take_records(self) -> pd.DataFrame:
        for log, stream in zip(self._logs, self._streams, strict=True):
            log.decode_into(stream)
        return take_all(self._streams, self.plan)

    def check(self) -> None:
        for log in self._logs:
            if log.ended.is_set() and log.message("exit") is None:
                raise AgentError(log.failure or f"in-cluster load worker pod {log.pod} ended without finishing",
                                 output_tail=log.tail())

    async def wait(self, timeout_s: float) -> AgentReport:
        """Wait until every worker's log ended (a dead worker is reported, not raised), then the master's."""
        if not self._logs or self._master is None:
            raise AgentError("wait() before start()")
        if not await until_changed(self._changed, lambda: all(log.ended.is_set() for log in self._logs), timeout_s):
            await self._fail(f"still running after {timeout_s:g} s; stopped them")
        master = self._master
        if not await until_changed(self._changed, master.ended.is_set, MASTER_LINGER_S):
            self.notes.append(f"the in-cluster load master (pod {master.pod}) did not end after its workers")
        reports = []
        for log, stream in zip(self._logs, self._streams, strict=True):
            check_stream_end(log.decode_into(stream), output_tail=log.tail)
            exit_message = log.message("exit")
            reports.append(worker_report(self.plan, stream.final_tally(), log.message("done"),
                                         int(exit_message["code"]) if exit_message else None))
        return combine(self.plan.rate * len(self.plan.targets), reports, planned=self.plan.planned_requests())

    # -- stop --------------------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Remove every Job and object (their pods are stopped), end the log threads; idempotent."""
        if self._applied:
            self._applied = False
            await self._deps.remove(self._objects)
        await asyncio.gather(*(log.close() for log in self._every_log()))
