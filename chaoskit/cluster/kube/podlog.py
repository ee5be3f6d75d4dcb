"""One in-cluster agent pod seen from chaoskit: its log followed in a thread and decoded as lines arrive
(records, control messages, Locust's own output), and the wait for agent pods to start.

Shared by the single agent (``incluster.InClusterAgent``) and Locust's distributed mode in pods
(``agentpods.InClusterWorkers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chaoskit.cluster.kube import loadjob
from chaoskit.cluster.kube.api import KubeApi, interrupt, iter_lines
from chaoskit.cluster.kube.drain import WaitFor
from chaoskit.cluster.kube.watchers import Watchers
from chaoskit.cluster.protocol import ClusterError, Manifest
from chaoskit.load.report import AgentImageError
from chaoskit.load.stream import RecordStream
from chaoskit.vocab import selector_matches

TAIL_LINES: Final = 40
NO_LOCUST_SIGNS: Final = ("No module named 'locust'", "No module named 'gevent'")

ObjectsAction = Callable[[Sequence[Manifest]], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class AgentDeps:
    """What the agents need from the cluster they run in (``KubeCluster`` provides them)."""

    api: KubeApi
    """Streams the agent pods' logs; runs the clock probe (exec)."""
    watchers: Watchers
    """The pod cache the agent pods are looked for in."""
    wait_for: WaitFor
    """Re-checks a condition on every watch change, bounded (``KubeCluster._wait_for``)."""
    apply: ObjectsAction
    """Creates the agents' objects (server-side apply, labelled with the run id)."""
    remove: ObjectsAction
    """Deletes them again."""
    run_id: str


class PodLog:
    """A pod's ``agent`` container log, followed in a daemon thread until it ends or ``close``."""

    def __init__(self, api: KubeApi, namespace: str, pod: str, *, changed: asyncio.Event,
                 read_timeout_s: float) -> None:
        self.pod = pod
        self.decoder = loadjob.LogDecoder()
        self.lock = threading.Lock()
        self.ended = threading.Event()
        self.failure: str | None = None
        self.ready_seen_ns = 0
        """When its ``ready`` message reached this host (for the clock note of the single agent)."""
        self._api, self._namespace = api, namespace
        self._changed = changed
        self._read_timeout_s = read_timeout_s
        self._stream: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._follow, args=(loop,), daemon=True,
                                        name=f"chaoskit-agent-log-{self.pod}")
        self._thread.start()

    def _follow(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self._stream = self._api.open_stream(
                f"/api/v1/namespaces/{self._namespace}/pods/{self.pod}/log",
                query=[("container", "agent"), ("follow", "true")], read_timeout_s=self._read_timeout_s)
            for raw in iter_lines(self._stream):
                with self.lock:
                    self.decoder.feed(raw.decode("utf-8", "replace"))
                    ready = not self.ready_seen_ns and any(m.get("event") == "ready" for m in self.decoder.control)
                if ready:
                    self.ready_seen_ns = time.time_ns()
                loop.call_soon_threadsafe(self._changed.set)
        except Exception as exc:  # transport errors end the stream; wait()/check() report them
            self.failure = f"log stream of pod {self.pod} broke: {exc}"
        finally:
            if self._stream is not None:
                self._stream.close()
            self.ended.set()
            with contextlib.suppress(RuntimeError):  # loop closed: nobody waits any more
                loop.call_soon_threadsafe(self._changed.set)

    def message(self, event: str) -> dict[str, Any] | None:
        with self.lock:
            return next((m for m in self.decoder.control if m.get("event") == event), None)

    def decode_into(self, records: RecordStream) -> int:
        """Move its whole records into ``records``; returns the bytes of a partial record left."""
        with self.lock:
            records.decode_whole(self.decoder.records)
            return len(self.decoder.records)

    def tail(self) -> str:
        with self.lock:
            return "\n".join(self.decoder.other[-TAIL_LINES:])

    def raise_if_no_locust(self, image: str) -> None:
        """The image cannot run the agent (the wrapper says so, or Python could not import Locust): bad input."""
        said = self.message("no-locust")
        tail = self.tail()
        if said is None and not any(sign in tail for sign in NO_LOCUST_SIGNS):
            return
        python = f" (Python {said['python']} at {said['executable']})" if said else ""
        raise AgentImageError(
            f"the in-cluster load agent image {image} has no Locust{python}: pod {self.pod} cannot run the agent",
            hint="--agent-image must be a Locust 2.x image with its Python on PATH as `python` "
                 "(the default is locustio/locust:2.47.0, or a mirror of it)", output_tail=tail)

    async def close(self) -> None:
        """End the log thread (interrupting the stream if the pod's log has not ended by itself)."""
        if self._thread is None:
            return
        if self._stream is not None and not self.ended.wait(5.0):
            interrupt(self._stream)
        await asyncio.to_thread(self._thread.join, 10.0)


def agent_pods(watchers: Watchers, namespace: str, selector: dict[str, str], count: int, *,
               need_ip: bool = False) -> list[str] | None:
    """The names of ``count`` started pods matching ``selector`` (even Failed: their log says why), or None.

    Raises ``ClusterError`` for a pod that cannot start (e.g. ImagePullBackOff).
    """
    started: list[str] = []
    for pod in watchers.pods(namespace):
        if not selector_matches(selector, pod.get("metadata", {}).get("labels")):
            continue
        status = pod.get("status", {})
        if status.get("phase") != "Pending" and (status.get("podIP") or not need_ip):
            started.append(str(pod["metadata"]["name"]))
        else:
            watchers.raise_if_failing([pod])
    return sorted(started) if len(started) >= count else None


async def wait_pods_started(deps: AgentDeps, namespace: str, selector: dict[str, str], count: int, *,
                            timeout_s: float, image: str, cpu: str, need_ip: bool = False) -> list[str]:
    """Wait (watching) until ``count`` agent pods run; a ClusterError with the hint that fixes it otherwise."""
    try:
        names: list[str] = await deps.wait_for(
            lambda: agent_pods(deps.watchers, namespace, selector, count, need_ip=need_ip), timeout_s=timeout_s,
            what=lambda: f"the in-cluster load agent pods (image {image}, {count} wanted) did not start in "
            f"{timeout_s:g} s")
    except ClusterError as exc:
        raise ClusterError(str(exc), hint=f"a node must be able to run image {image} with {cpu} CPU per agent pod: "
                           "pull or preload it, or pass --agent-image / --agent-cpu / fewer --workers; or load "
                           "ClusterIP from a node (--load-from local)") from exc
    return names
