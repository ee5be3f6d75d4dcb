"""A local pod and its kubelet: volumes, container processes, readiness, restarts, termination.

The kubelet can lose the API server (its node failed): it then reports nothing, so the API keeps the pod's last
reported state (the node controller marks it not ready later), and nothing the API asks of it (a deletion)
happens until it is back. On a stopped node the containers are also frozen; on its return they start again.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chaoskit.cluster.local.addresses import local_port
from chaoskit.cluster.local.config import LocalClusterConfig
from chaoskit.cluster.local.container import Container, mount_env_name
from chaoskit.cluster.local.objects import PodTemplate
from chaoskit.cluster.protocol import ContainerInfo, EventKind, PodInfo, PodPhase

UNIX_PATH_MAX = 108
"""sun_path size on Linux: a longer hand-over path falls back to relaying."""
PodListener = Callable[["LocalPod", EventKind, str], None]
"""Called on every pod state change with the event kind and a detail string."""


@dataclass(frozen=True, slots=True)
class PodPlacement:
    node: str
    ip: str
    node_root: Path
    pod_dir: Path
    claim_dirs: Mapping[str, Path] = field(default_factory=dict)
    """persistentVolumeClaim volume name -> the claim's data directory."""


class LocalPod:
    """Pending -> Running -> Ready -> Terminating -> deleted, with real processes and directories."""

    def __init__(self, *, namespace: str, name: str, owner: str | None, template: PodTemplate,
                 config: LocalClusterConfig, listener: PodListener) -> None:
        self.namespace = namespace
        self.name = name
        self.owner = owner
        self.template = template
        self.uid = str(uuid.uuid4())
        self.created_ns = time.time_ns()
        self._config = config
        self._listener = listener
        self.placement: PodPlacement | None = None
        self.containers: list[Container] = []
        self.phase = PodPhase.PENDING
        self.ready = False
        self.terminating = False
        self.deleted = False
        self.frozen = False
        """Its node is stopped: the container processes are frozen (SIGSTOP) and nothing runs probes."""
        self._reachable = asyncio.Event()
        self._reachable.set()
        self._reported: tuple[ContainerInfo, ...] | None = None
        """The container statuses the API last got, while the kubelet cannot report."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._rebooted: list[Container] = []
        """Containers restarted while the kubelet could not report it (said on reconnect)."""

    # --- views -------------------------------------------------------------------------------
    @property
    def ip(self) -> str | None:
        return self.placement.ip if self.placement else None

    @property
    def node(self) -> str | None:
        return self.placement.node if self.placement else None

    @property
    def reachable(self) -> bool:
        """Whether the kubelet can talk to the API server (False while its node is failed)."""
        return self._reachable.is_set()

    @property
    def claims(self) -> dict[str, str]:
        """persistentVolumeClaim volume name -> claim name."""
        return {v.name: v.claim_for(self.name) for v in self.template.volumes if v.kind == "persistentVolumeClaim"}

    def _container_infos(self) -> tuple[ContainerInfo, ...]:
        return tuple(ContainerInfo(c.spec.name, c.ready, c.running, c.restart_count, dict(c.spec.mounts))
                     for c in self.containers)

    def info(self) -> PodInfo:
        return PodInfo(
            namespace=self.namespace, name=self.name, uid=self.uid, ip=self.ip, node=self.node,
            phase=self.phase, ready=self.ready, terminating=self.terminating,
            labels=dict(self.template.labels), owner=self.owner, created_ns=self.created_ns,
            volumes={v.name: v.kind for v in self.template.volumes},
            containers=self._reported if self._reported is not None else self._container_infos(),
            claims=self.claims,
        )

    def handoff_path(self, port: int) -> str | None:
        """The unix socket where the built-in container serving ``port`` takes connections from the proxy."""
        if not self._config.proxy_handoff or self.placement is None:
            return None
        serving = [c for c in self.template.containers if port in [p for _, p in c.ports]]
        container = serving[0] if serving else (self.template.containers[0] if len(self.template.containers) == 1
                                                 else None)
        if container is None or container.command:  # only the built-in target takes hand-overs
            return None
        path = str(self.placement.pod_dir / f"{container.name}.handoff")
        return path if len(path.encode()) < UNIX_PATH_MAX else None

    def volume_dir(self, volume: str) -> Path:
        """The host directory backing ``volume`` for this pod (emptyDir: per pod; hostPath: per node;
        persistentVolumeClaim: the claim's)."""
        assert self.placement is not None
        for spec in self.template.volumes:
            if spec.name == volume:
                if spec.kind == "emptyDir":
                    return self.placement.pod_dir / "volumes" / volume
                if spec.kind == "persistentVolumeClaim":
                    return self.placement.claim_dirs[volume]
                return self.placement.node_root / spec.host_path.lstrip("/")
        raise KeyError(volume)

    # --- lifecycle ---------------------------------------------------------------------------
    def _spawn_task(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def bind(self, placement: PodPlacement) -> None:
        """The scheduler chose a node and the kubelet an IP: start running."""
        self.placement = placement
        self._listener(self, EventKind.POD_SCHEDULED, placement.node)
        self._spawn_task(self._run())

    def _report(self, kind: EventKind, detail: str) -> None:
        """A status change the kubelet posts to the API: lost while the node is cut off."""
        if self.reachable:
            self._listener(self, kind, detail)

    async def until_reachable(self) -> None:
        """Wait until the kubelet can act on what the API asks (at once unless the node is failed)."""
        await self._reachable.wait()

    async def _run(self) -> None:
        assert self.placement is not None
        await self.until_reachable()  # bound to a node that has failed: its kubelet never heard of the pod
        for volume in self.template.volumes:
            self.volume_dir(volume.name).mkdir(parents=True, exist_ok=True)
        logs = self.placement.pod_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for spec in self.template.containers:
            container = Container(spec, env=self._env(spec.name), python=self._config.python,
                                  ip=self.placement.ip, on_change=lambda _c, _what: self._refresh_ready(),
                                  log_path=logs / f"{spec.name}.log")
            self.containers.append(container)
        for container in self.containers:
            await self.until_reachable()  # its node failed while the containers were starting
            if self.terminating:
                return
            await container.start()
            if self.terminating:  # deleted while this container was starting
                await container.stop(grace_s=0)
                return
            self._watch_container(container)
        if not self.terminating:
            self.phase = PodPhase.RUNNING
            self._report(EventKind.POD_RUNNING, "")
            self._refresh_ready()

    def _watch_container(self, container: Container) -> None:
        task = asyncio.ensure_future(self._watch(container))
        self._watchers[container.spec.name] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _env(self, container: str) -> dict[str, str]:
        assert self.placement is not None
        spec = next(c for c in self.template.containers if c.name == container)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "POD_NAME": self.name, "POD_NAMESPACE": self.namespace,
               "POD_IP": self.placement.ip, "NODE_NAME": self.placement.node,
               "HOSTNAME": self.name, "PYTHONDONTWRITEBYTECODE": "1"}
        ports = [p for _, p in spec.ports] or [80]
        env["CHAOSKIT_LISTEN"] = ",".join(f"{self.placement.ip}:{local_port(p)}" for p in ports)
        for volume, mount_path in spec.mounts:
            env[mount_env_name(mount_path)] = str(self.volume_dir(volume))
        handoff = self.handoff_path(ports[0])
        if handoff is not None and not spec.command:
            env["CHAOSKIT_HANDOFF"] = handoff
        env.update(spec.env)
        return env

    def _refresh_ready(self) -> None:
        """Post the pod's readiness to the API (``ready`` is the API's view: not updated while cut off)."""
        if not self.reachable:
            return
        ready = (self.phase is PodPhase.RUNNING and not self.terminating and not self.frozen
                 and all(c.ready for c in self.containers))
        if ready != self.ready:
            self.ready = ready
            self._listener(self, EventKind.POD_READY if ready else EventKind.POD_NOT_READY, "")

    async def _watch(self, container: Container) -> None:
        """Restart the container in place when it dies (same IP, same emptyDir), with backoff."""
        while container.process is not None:
            code = await container.process.wait()
            container.exited()
            if container.stopping or self.terminating or self.frozen:
                return
            self._refresh_ready()
            self._report(EventKind.CONTAINER_DIED, f"{container.spec.name} exit={code}")
            if not self.template.restart_always:
                return
            await asyncio.sleep(self._backoff(container.restart_count))
            if self.terminating or self.frozen:
                return
            container.restart_count += 1
            await container.start()
            self._report(EventKind.CONTAINER_RESTARTED, f"{container.spec.name} restarts={container.restart_count}")

    def _backoff(self, restarts: int) -> float:
        if restarts == 0:
            return 0.0
        delay = self._config.restart_backoff_initial_s * 2 ** (restarts - 1)
        return float(min(delay, self._config.restart_backoff_max_s))

    def kill_container(self, name: str) -> None:
        container = next((c for c in self.containers if c.spec.name == name), None)
        if container is None:
            raise KeyError(name)
        container.crash()

    async def terminate(self, grace_s: float) -> None:
        """Graceful: leave endpoints now, preStop, SIGTERM, SIGKILL after the grace period; then cleanup."""
        self.terminating = True
        self._refresh_ready()
        deadline = time.monotonic() + grace_s
        pre_stop = max((c.spec.pre_stop_sleep_s for c in self.containers), default=0.0)
        if pre_stop > 0 and grace_s > 0:
            await asyncio.sleep(min(pre_stop, grace_s))
        remaining = max(0.0, deadline - time.monotonic())
        await asyncio.gather(*(c.stop(grace_s=remaining if grace_s > 0 else 0) for c in self.containers))
        await self._cleanup()

    # --- node failure ------------------------------------------------------------------------
    def cut_off(self, *, stop: bool) -> None:
        """The node failed: the kubelet reports nothing from now on; ``stop`` also freezes the processes.

        Frozen rather than killed: a powered-off machine does not answer at all, so its clients time out. A
        frozen process keeps its socket, so on loopback too a connection is accepted into the backlog (or its
        SYN dropped once that is full) and never answered; a killed one would be refused at once, which is how
        a machine that is up answers, not a dead one. Its memory is never used again (``reboot``).
        """
        if self._reachable.is_set():
            self._reported = self._container_infos()
            self._reachable.clear()
        if stop and not self.frozen:
            self.frozen = True
            for container in self.containers:
                container.freeze()

    async def reboot(self) -> None:
        """The stopped node is back: its frozen processes are killed (their memory is gone, as after a power
        loss) and, unless the pod was deleted meanwhile, every container starts again in the same pod (same
        IP and volumes, restart count + 1) as the kubelet does after a reboot."""
        for task in self._watchers.values():
            task.cancel()
        self._watchers.clear()
        started = [c for c in self.containers if c.process is not None]  # the rest: ``_run`` starts them
        await asyncio.gather(*(c.stop(grace_s=0) for c in started))
        self.frozen = False
        if self.terminating or self.deleted:
            return
        for container in started:
            container.stopping = False
            container.restart_count += 1
            await container.start()
            self._watch_container(container)
            self._rebooted.append(container)

    def reconnect(self) -> None:
        """The kubelet reaches the API again: it posts the pod's real state and acts on what it missed."""
        self._reported = None
        self._reachable.set()
        for container in self._rebooted:
            self._report(EventKind.CONTAINER_RESTARTED,
                         f"{container.spec.name} restarts={container.restart_count} (node rebooted)")
        self._rebooted.clear()
        self._refresh_ready()

    async def _cleanup(self) -> None:
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        if self.placement is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(shutil.rmtree, self.placement.pod_dir, True)
        self.deleted = True
