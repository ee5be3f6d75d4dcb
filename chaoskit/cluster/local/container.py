"""One container of a local pod: its OS process, readiness/liveness probes and restart backoff."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Callable, Mapping
from pathlib import Path

from chaoskit.cluster.local.addresses import local_port
from chaoskit.cluster.local.objects import ContainerSpec, Probe
from chaoskit.process import kill, signal_group, spawn, terminate

STARTED_WAIT_S = 10.0
"""How long the runtime waits for the built-in target's 'started' byte before giving up on it."""


def mount_env_name(mount_path: str) -> str:
    """`/usr/local/apache2/htdocs/scratch` -> `CHAOSKIT_MOUNT_USR_LOCAL_APACHE2_HTDOCS_SCRATCH`."""
    return "CHAOSKIT_MOUNT_" + re.sub(r"[^A-Za-z0-9]+", "_", mount_path).strip("_").upper()


async def http_probe(ip: str, probe: Probe, timeout_s: float) -> bool:
    """One httpGet probe: success is a 2xx/3xx status within the timeout, like the kubelet's."""
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(ip, local_port(probe.port))
            writer.write(f"GET {probe.path} HTTP/1.1\r\nHost: {ip}\r\nUser-Agent: kube-probe/local\r\n"
                         "Connection: close\r\n\r\n".encode())
            status_line = await reader.readline()
        parts = status_line.split()
        return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
    except (OSError, TimeoutError, ValueError):
        return False
    finally:
        if writer is not None:
            writer.close()


class Container:
    """Runs, watches and restarts one container process; reports readiness changes through a callback."""

    def __init__(self, spec: ContainerSpec, *, env: Mapping[str, str], python: str, ip: str,
                 on_change: Callable[[Container, str], None], log_path: Path) -> None:
        self.spec = spec
        self._env = env
        self._python = python
        self._ip = ip
        self._on_change = on_change
        self.log_path = log_path
        """stdout and stderr of every run of this container (what `kubectl logs` would show)."""
        self.process: asyncio.subprocess.Process | None = None
        self.restart_count = 0
        self.running = False
        self.ready = False
        self.stopping = False
        self._probes: list[asyncio.Task[None]] = []

    @property
    def builtin(self) -> bool:
        return not self.spec.command

    def argv(self) -> list[str]:
        return [self._python, "-m", "chaoskit.standin"] if self.builtin else list(self.spec.command)

    async def start(self) -> None:
        """Start the process; returns once it has started (the target's byte, else at spawn)."""
        read_fd, write_fd = os.pipe() if self.builtin else (-1, -1)
        env = dict(self._env)
        if self.builtin:
            env["CHAOSKIT_STARTED_FD"] = str(write_fd)
        try:
            with self.log_path.open("ab") as log_file:
                self.process = await spawn(self.argv(), env=env, pass_fds=[write_fd] if self.builtin else [],
                                           stdout=log_file.fileno(), stderr=log_file.fileno())
        finally:
            if self.builtin:
                os.close(write_fd)
        if self.builtin:
            await _wait_readable(read_fd, STARTED_WAIT_S)
        self.running = True
        self.ready = self.spec.readiness is None
        self._probes = [asyncio.create_task(self._readiness_loop()),
                        asyncio.create_task(self._liveness_loop())]

    async def _readiness_loop(self) -> None:
        probe = self.spec.readiness
        if probe is None:
            self._on_change(self, "ready")
            return
        await asyncio.sleep(probe.initial_delay_s)
        successes = failures = 0
        while self.running:
            ok = await http_probe(self._ip, probe, probe.timeout_s)
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if not self.ready and successes >= probe.success_threshold:
                self.ready = True
                self._on_change(self, "ready")
            elif self.ready and failures >= probe.failure_threshold:
                self.ready = False
                self._on_change(self, "not_ready")
            await asyncio.sleep(probe.period_s)

    async def _liveness_loop(self) -> None:
        probe = self.spec.liveness
        if probe is None:
            return
        await asyncio.sleep(probe.initial_delay_s)
        failures = 0
        while self.running:
            failures = 0 if await http_probe(self._ip, probe, probe.timeout_s) else failures + 1
            if failures >= probe.failure_threshold and self.process is not None:
                signal_group(self.process.pid, signal.SIGKILL)  # the exit watcher restarts it
                return
            await asyncio.sleep(probe.period_s)

    def exited(self) -> None:
        """The process ended: no longer running or ready; probes stop."""
        self.running = False
        self.ready = False
        self._cancel_probes()

    def _cancel_probes(self) -> None:
        for task in self._probes:
            task.cancel()
        self._probes = []

    async def stop(self, *, grace_s: float) -> None:
        """SIGTERM, then SIGKILL after ``grace_s`` (0 = SIGKILL at once)."""
        self.stopping = True
        self._cancel_probes()
        if self.process is not None:
            if grace_s <= 0:
                await kill(self.process)
            else:
                await terminate(self.process, grace_s=grace_s)
        self.running = False
        self.ready = False

    def crash(self) -> None:
        """SIGKILL the process as a crash would: the pod's watcher restarts it."""
        if self.process is not None and self.process.returncode is None:
            signal_group(self.process.pid, signal.SIGKILL)

    def freeze(self) -> None:
        """SIGSTOP the process group (its node stopped): nothing runs, nothing answers, probes stop."""
        self._cancel_probes()
        if self.process is not None and self.process.returncode is None:
            signal_group(self.process.pid, signal.SIGSTOP)


async def _wait_readable(fd: int, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, on_readable)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready, timeout_s)
    finally:
        loop.remove_reader(fd)
        os.close(fd)
