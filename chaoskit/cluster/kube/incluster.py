"""The in-cluster load agent seen from the engine: same interface as the agent on this host (``LoadAgent``).

``start`` applies the Job (ServiceAccount without API rights, ConfigMap with the locustfile and plan), waits
(watching) for its pod to run, follows the pod log in a thread and returns once the agent announced its
first request instant (``t0_ns``); records are decoded as their log lines arrive. ``stop`` removes the
objects (the pod gets SIGTERM; the wrapper forwards it) and is safe on every exit path.

Clocks: the agent stamps records with its node's wall clock. On one machine (the test bed) that is this
host's clock; on a real cluster the ready message's own timestamp against its arrival here bounds the
skew, and a note says so when it is large.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from chaoskit.cluster.kube import loadjob
from chaoskit.cluster.kube.api import KubeApi, interrupt, iter_lines
from chaoskit.cluster.kube.drain import WaitFor
from chaoskit.cluster.kube.watchers import Watchers
from chaoskit.cluster.protocol import ClusterError, Manifest
from chaoskit.load.plan import LoadPlan
from chaoskit.load.report import AgentError, AgentReport, combine, worker_report
from chaoskit.load.stream import RecordStream, until_changed
from chaoskit.vocab import selector_matches

START_LEAD_S: Final = 3.0
"""The agent's first request is due this long after it is ready: time for its ready line to reach us
through the pod log and for the agent on this host to start on the same instant."""
SKEW_NOTE_MS: Final = 500.0
"""Report the clock difference when the ready line's arrival and its own timestamp differ this much."""
_TAIL_LINES: Final = 40


ObjectsAction = Callable[[Sequence[Manifest]], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class AgentDeps:
    """What the agent needs from the cluster it runs in (``KubeCluster`` provides them)."""

    api: KubeApi
    """Streams the agent pod's log."""
    watchers: Watchers
    """The pod cache the agent's pod is looked for in."""
    wait_for: WaitFor
    """Re-checks a condition on every watch change, bounded (``KubeCluster._wait_for``)."""
    apply: ObjectsAction
    """Creates the agent's objects (server-side apply, labelled with the run id)."""
    remove: ObjectsAction
    """Deletes them again."""
    run_id: str


class InClusterAgent:
    """One Job for one plan (ClusterIP targets): ``start``, ``take_records``, ``wait``, ``stop``."""

    def __init__(self, deps: AgentDeps, namespace: str, plan: LoadPlan, *, start_timeout_s: float,
                 image: str, cpu: str = "1") -> None:
        self.plan = plan
        self.notes: list[str] = []
        self._deps = deps
        self._start_timeout_s = start_timeout_s
        deadline = start_timeout_s + START_LEAD_S + plan.duration_s + plan.timeout_s + 60
        self.spec = loadjob.AgentJobSpec(namespace=namespace, run_id=deps.run_id,
                                         plan_json=plan.to_json(), deadline_s=int(deadline), image=image,
                                         cpu=cpu)
        self._objects = loadjob.render(self.spec)
        self._applied = False
        self._decoder = loadjob.LogDecoder()
        self._lock = threading.Lock()
        self._records = RecordStream(plan, worker="in-cluster/0")
        self._ended = threading.Event()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._failure: str | None = None
        self._changed = asyncio.Event()
        self._ready_seen_ns = 0

    # -- control messages ----------------------------------------------------------------------------
    def _message(self, event: str) -> dict[str, Any] | None:
        with self._lock:
            return next((m for m in self._decoder.control if m.get("event") == event), None)

    @property
    def t0_ns(self) -> int | None:
        ready = self._message("ready")
        return int(ready["t0_ns"]) if ready else None

    # -- start -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Apply the Job, wait for its pod, follow its log; return once the agent is ready."""
        if self._applied:
            raise AgentError("this in-cluster agent was already started; use a new one per run")
        self._applied = True
        await self._deps.apply(self._objects)
        pod = await self._wait_pod_started()
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._follow, args=(pod, loop), daemon=True,
                                        name=f"chaoskit-agent-log-{pod}")
        self._thread.start()
        ready = await until_changed(self._changed, lambda: self.t0_ns is not None or self._ended.is_set(),
                                    self._start_timeout_s)
        if self.t0_ns is None:
            tail = self._tail()
            await self.stop()
            why = "exited before it was ready" if ready else f"not ready after {self._start_timeout_s:g} s"
            raise AgentError(f"in-cluster load agent (pod {pod}) {why}", output_tail=tail)
        self._note_clock()

    async def _wait_pod_started(self) -> str:
        selector = loadjob.job_pod_selector(self.spec.run_id)
        watchers = self._deps.watchers

        def started() -> str | None:
            for pod in watchers.pods(self.spec.namespace):
                if selector_matches(selector, pod.get("metadata", {}).get("labels")):
                    if pod.get("status", {}).get("phase") != "Pending":
                        return str(pod["metadata"]["name"])  # even Failed: its log says why
                    watchers.raise_if_failing([pod])  # e.g. ImagePullBackOff: fail now
            return None

        try:
            name: str = await self._deps.wait_for(
                started, timeout_s=self._start_timeout_s,
                what=lambda: f"the in-cluster load agent pod (image {self.spec.image}) "
                f"did not start in {self._start_timeout_s:g} s")
        except ClusterError as exc:
            await self.stop()
            raise ClusterError(str(exc), hint=f"a node must be able to run image {self.spec.image} with "
                               f"{self.spec.cpu} CPU: pull or preload it, or pass --agent-image / --agent-cpu; "
                               "or load ClusterIP from a node (--load-from local)") from exc
        return name

    def _follow(self, pod: str, loop: asyncio.AbstractEventLoop) -> None:
        """Log thread: decode lines as they arrive until the container exits or ``stop`` interrupts."""
        api = self._deps.api
        try:
            self._stream = api.open_stream(f"/api/v1/namespaces/{self.spec.namespace}/pods/{pod}/log",
                                           query=[("container", "agent"), ("follow", "true")],
                                           read_timeout_s=self.spec.deadline_s)
            for raw in iter_lines(self._stream):
                with self._lock:
                    self._decoder.feed(raw.decode("utf-8", "replace"))
                    ready = self._ready_seen_ns == 0 and any(
                        m.get("event") == "ready" for m in self._decoder.control)
                if ready:
                    self._ready_seen_ns = time.time_ns()
                loop.call_soon_threadsafe(self._changed.set)
        except Exception as exc:  # transport errors end the stream; wait()/check() report them
            self._failure = f"log stream of pod {pod} broke: {exc}"
        finally:
            if self._stream is not None:
                self._stream.close()
            self._ended.set()
            with contextlib.suppress(RuntimeError):  # loop closed: nobody waits any more
                loop.call_soon_threadsafe(self._changed.set)

    def _note_clock(self) -> None:
        ready = self._message("ready")
        if ready is None or "now_ns" not in ready or not self._ready_seen_ns:
            return
        gap_ms = (self._ready_seen_ns - int(ready["now_ns"])) / 1e6
        if abs(gap_ms) > SKEW_NOTE_MS:
            self.notes.append(
                f"in-cluster agent clock: its ready line arrived {gap_ms:+.0f} ms after its own timestamp "
                "(clock skew plus log delay); ClusterIP records carry the node's clock")

    # -- records -----------------------------------------------------------------------------------------
    def _decode_pending(self) -> None:
        with self._lock:
            self._records.decode_whole(self._decoder.records)

    def take_records(self) -> pd.DataFrame:
        """Every record decoded since the last call."""
        self._decode_pending()
        return self._records.take()

    def check(self) -> None:
        """Raise ``AgentError`` if the agent's log ended before it finished its plan."""
        if self._ended.is_set() and self._message("exit") is None:
            raise AgentError(self._failure or "in-cluster load agent ended without finishing",
                             output_tail=self._tail())

    async def wait(self, timeout_s: float) -> AgentReport:
        """Wait until the agent's log ends; the remaining records stay for ``take_records``."""
        if self._thread is None:
            raise AgentError("wait() before start()")
        if not await until_changed(self._changed, self._ended.is_set, timeout_s):
            tail = self._tail()
            await self.stop()
            raise AgentError(f"in-cluster load agent still running after {timeout_s:g} s; stopped it",
                             output_tail=tail)
        exit_message = self._message("exit")
        if exit_message is None:
            raise AgentError(self._failure or "in-cluster load agent ended without an exit status",
                             output_tail=self._tail())
        self._decode_pending()
        with self._lock:
            left = len(self._decoder.records)
        if left:
            raise AgentError(f"record stream ended inside a record ({left} bytes left)")
        worker = worker_report(self.plan, self._records.final_tally(), self._message("done"),
                               int(exit_message["code"]))
        return combine(self.plan.rate * len(self.plan.targets), [worker], planned=self.plan.planned_requests())

    def _tail(self) -> str:
        with self._lock:
            return "\n".join(self._decoder.other[-_TAIL_LINES:])

    # -- stop --------------------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Remove the Job and its objects (its pod is stopped), end the log thread; idempotent."""
        if self._applied:
            self._applied = False
            await self._deps.remove(self._objects)
        if self._thread is not None:
            if self._stream is not None and not self._ended.wait(5.0):
                interrupt(self._stream)
            await asyncio.to_thread(self._thread.join, 10.0)
