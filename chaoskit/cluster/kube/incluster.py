"""The in-cluster load agent seen from the engine: same interface as the agent on this host (``LoadAgent``).

``start`` applies the Job (ServiceAccount without API rights, ConfigMap with the locustfile and plan), waits
(watching) for its pod to run, follows the pod log in a thread and returns once the agent announced its
first request instant (``t0_ns``); records are decoded as their log lines arrive. ``stop`` removes the
objects (the pod gets SIGTERM; the wrapper forwards it) and is safe on every exit path. ``in_cluster_load``
picks this single agent or Locust's distributed mode in pods (``agentpods.InClusterWorkers``).

Clocks: the single agent stamps records with its node's wall clock. On one machine (the test bed) that is
this host's clock; on a real cluster the ready message's own timestamp against its arrival here bounds the
skew, and a note says so when it is large. The distributed mode measures and corrects every pod's offset.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import pandas as pd

from chaoskit.cluster.kube import loadjob
from chaoskit.cluster.kube.podlog import AgentDeps, PodLog, wait_pods_started
from chaoskit.load.plan import LoadPlan
from chaoskit.load.report import AgentError, AgentReport, check_stream_end, combine, worker_report
from chaoskit.load.source import LoadSource
from chaoskit.load.stream import RecordStream, until_changed

__all__ = ["START_LEAD_S", "AgentDeps", "InClusterAgent", "in_cluster_load"]

START_LEAD_S: Final = 3.0
"""The agent's first request is due this long after it is ready: time for its ready line to reach us
through the pod log and for the agent on this host to start on the same instant."""
SKEW_NOTE_MS: Final = 500.0
"""Report the clock difference when the ready line's arrival and its own timestamp differ this much."""


def in_cluster_load(deps: AgentDeps, namespace: str, plan: LoadPlan, *, start_timeout_s: float, image: str,
                    cpu: str) -> LoadSource:
    """The in-cluster agent a plan asks for: one Job, or Locust's master and ``plan.workers`` worker pods."""
    if plan.workers == 1:
        return InClusterAgent(deps, namespace, plan, start_timeout_s=start_timeout_s, image=image, cpu=cpu)
    from chaoskit.cluster.kube.agentpods import InClusterWorkers

    return InClusterWorkers(deps, namespace, plan, start_timeout_s=start_timeout_s, image=image, cpu=cpu)


def deadline_s(plan: LoadPlan, start_timeout_s: float) -> int:
    """activeDeadlineSeconds of an agent Job: start, lead, the schedule, its last timeouts, and slack."""
    return int(start_timeout_s + START_LEAD_S + plan.duration_s + plan.timeout_s + 60)


class InClusterAgent:
    """One Job for one plan (ClusterIP targets): ``start``, ``take_records``, ``wait``, ``stop``."""

    def __init__(self, deps: AgentDeps, namespace: str, plan: LoadPlan, *, start_timeout_s: float,
                 image: str, cpu: str = "1") -> None:
        self.plan = plan
        self.notes: list[str] = []
        self._deps = deps
        self._start_timeout_s = start_timeout_s
        self.spec = loadjob.AgentJobSpec(namespace=namespace, run_id=deps.run_id, plan_json=plan.to_json(),
                                         deadline_s=deadline_s(plan, start_timeout_s), image=image, cpu=cpu)
        self._objects = loadjob.render(self.spec)
        self._applied = False
        self._records = RecordStream(plan, worker="in-cluster/0")
        self._log: PodLog | None = None
        self._changed = asyncio.Event()

    @property
    def t0_ns(self) -> int | None:
        ready = self._log.message("ready") if self._log else None
        return int(ready["t0_ns"]) if ready else None

    @property
    def pending(self) -> int:
        return self._records.pending

    # -- start -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Apply the Job, wait for its pod, follow its log; return once the agent is ready."""
        if self._applied:
            raise AgentError("this in-cluster agent was already started; use a new one per run")
        self._applied = True
        await self._deps.apply(self._objects)
        try:
            (pod,) = await wait_pods_started(self._deps, self.spec.namespace, loadjob.job_pod_selector(
                self.spec.run_id), 1, timeout_s=self._start_timeout_s, image=self.spec.image, cpu=self.spec.cpu)
        except BaseException:
            await self.stop()
            raise
        log = self._log = PodLog(self._deps.api, self.spec.namespace, pod, changed=self._changed,
                                 read_timeout_s=self.spec.deadline_s)
        log.start()
        self._records.tally.where = f"pod {pod}"
        ready = await until_changed(self._changed, lambda: self.t0_ns is not None or log.ended.is_set(),
                                    self._start_timeout_s)
        if self.t0_ns is None:
            tail = log.tail()
            await self.stop()
            log.raise_if_no_locust(self.spec.image)
            why = "exited before it was ready" if ready else f"not ready after {self._start_timeout_s:g} s"
            raise AgentError(f"in-cluster load agent (pod {pod}) {why}", output_tail=tail)
        self._note_clock(log)

    def _note_clock(self, log: PodLog) -> None:
        ready = log.message("ready")
        if ready is None or "now_ns" not in ready or not log.ready_seen_ns:
            return
        gap_ms = (log.ready_seen_ns - int(ready["now_ns"])) / 1e6
        if abs(gap_ms) > SKEW_NOTE_MS:
            self.notes.append(
                f"in-cluster agent clock: its ready line arrived {gap_ms:+.0f} ms after its own timestamp "
                "(clock skew plus log delay); ClusterIP records carry the node's clock")

    # -- records -----------------------------------------------------------------------------------------
    def take_records(self) -> pd.DataFrame:
        """Every record decoded since the last call."""
        if self._log is not None:
            self._log.decode_into(self._records)
        return self._records.take()

    def check(self) -> None:
        """Raise ``AgentError`` if the agent's log ended before it finished its plan."""
        log = self._log
        if log is not None and log.ended.is_set() and log.message("exit") is None:
            raise AgentError(log.failure or "in-cluster load agent ended without finishing", output_tail=log.tail())

    async def wait(self, timeout_s: float) -> AgentReport:
        """Wait until the agent's log ends (a pod that died is reported, not raised); the remaining records
        stay for ``take_records``."""
        log = self._log
        if log is None:
            raise AgentError("wait() before start()")
        if not await until_changed(self._changed, log.ended.is_set, timeout_s):
            tail = log.tail()
            await self.stop()
            raise AgentError(f"in-cluster load agent still running after {timeout_s:g} s; stopped it",
                             output_tail=tail)
        check_stream_end(log.decode_into(self._records), output_tail=log.tail)
        exit_message: dict[str, Any] | None = log.message("exit")
        worker = worker_report(self.plan, self._records.final_tally(), log.message("done"),
                               int(exit_message["code"]) if exit_message else None)
        if exit_message is None:
            self.notes.append(log.failure or f"the log of the in-cluster agent pod {log.pod} ended without its "
                              "exit status (pod deleted or evicted?)")
        return combine(self.plan.rate * len(self.plan.targets), [worker], planned=self.plan.planned_requests())

    # -- stop --------------------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Remove the Job and its objects (its pod is stopped), end the log thread; idempotent."""
        if self._applied:
            self._applied = False
            await self._deps.remove(self._objects)
        if self._log is not None:
            await self._log.close()
