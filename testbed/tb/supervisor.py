"""The test bed's supervisor: starts each component in order as its child, stops them all on SIGTERM.

It is a child subreaper, so containerd shims and container processes that get orphaned are adopted here
and stopped with everything else. Status goes to `<state>/status` ("starting", "running", "failed: ...").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import checks, procs


class Supervisor:
    def __init__(self, state: Path, spec: dict[str, Any]) -> None:
        self.state = state
        self.spec = spec
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.pending: list[tuple[str, list[str], float, subprocess.Popen[str]]] = []
        """Background hooks (image imports): component, argv, start time, process."""
        self.stopping = False

    def status(self, text: str) -> None:
        tmp = self.state / "status.tmp"
        tmp.write_text(text + "\n")
        tmp.replace(self.state / "status")
        self.log(f"status: {text}")

    def log(self, text: str) -> None:
        with (self.state / "logs" / "supervisor.log").open("a") as out:
            out.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def start_all(self) -> bool:
        env = {**os.environ, **self.spec.get("env", {})}
        for comp in self.spec["components"]:
            if self.stopping or (comp.get("await_hooks") and not self.await_hooks()):
                return False
            name = comp["name"]
            proc = procs.spawn(comp["argv"], log=self.state / "logs" / f"{name}.log",
                               env={**env, **comp.get("env", {})})
            self.running.append((name, proc))
            (self.state / "pids" / f"{name}.pid").write_text(f"{proc.pid}\n")
            self.log(f"started {name} pid {proc.pid}")
            check = comp.get("ready")
            if check and not checks.wait_ready(check, timeout_s=comp.get("timeout_s", 120.0),
                                               is_alive=lambda p=proc: p.poll() is None):
                self.status(f"failed: {name} not ready (rc={proc.poll()}, see logs/{name}.log)")
                return False
            if not self.run_hooks(name, comp.get("after_ready", []), env,
                                  background=comp.get("after_ready_async", False)):
                return False
            self.log(f"ready {name}")
        return self.await_hooks()

    def run_hooks(self, name: str, hooks: list[list[str]], env: dict[str, str], *, background: bool) -> bool:
        """Run a component's after-ready commands: in order, or all at once in the background."""
        for hook in hooks:
            proc = subprocess.Popen(hook, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            self.pending.append((name, hook, time.monotonic(), proc))
            if not background and not self.await_hooks():
                return False
        return True

    def await_hooks(self) -> bool:
        """Wait for every started hook; False (status failed) if one of them failed."""
        ok = True
        for name, hook, t0, proc in self.pending:
            _, err = proc.communicate()
            if proc.returncode != 0 and ok:
                self.status(f"failed: after {name}: {' '.join(hook)}: {err.strip()}")
                ok = False
            # Awaited in start order, so for background hooks this is an upper bound.
            self.log(f"after {name}: {' '.join(hook[-2:])} rc={proc.returncode}, finished within "
                     f"{time.monotonic() - t0:.1f}s")
        self.pending.clear()
        return ok

    def watch(self) -> None:
        """Until asked to stop: reap adopted orphans and report components that exit on their own."""
        reported: set[str] = set()
        while not self.stopping:
            procs.reap()
            for name, proc in self.running:
                if proc.poll() is not None and name not in reported:
                    reported.add(name)
                    self.log(f"component {name} exited rc={proc.returncode}")
                    self.status(f"degraded: {name} exited rc={proc.returncode}")
            time.sleep(0.5)

    def stop_all(self) -> None:
        grace = {c["name"]: c.get("stop_grace_s", 15.0) for c in self.spec["components"]}
        for name, proc in reversed(self.running):
            self.log(f"stopping {name}")
            procs.stop(proc.pid, grace_s=grace[name], own_child=True)
        # What is left are orphans we adopted (shims, container processes): kill until none remain.
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            procs.reap()
            left = procs.children_of(os.getpid())
            if not left:
                break
            for pid in left:
                self.log(f"killing adopted orphan {pid} {procs.cmdline(pid)[:2]}")
                procs.stop(pid, grace_s=2.0, own_child=True)
        procs.reap()


def main(state_dir: str) -> int:
    state = Path(state_dir)
    spec = json.loads((state / "components.json").read_text())
    procs.set_subreaper()
    sup = Supervisor(state, spec)

    def on_term(_sig: int, _frame: object) -> None:
        sup.stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    sup.status("starting")
    if sup.start_all():
        sup.status("running")
        sup.watch()
    else:
        # Leave the failure status for `up` to read; keep running until `down` asks us to stop, so
        # logs and processes can be inspected; `up` calls `down` itself on failure.
        while not sup.stopping:
            procs.reap()
            time.sleep(0.5)
    sup.stop_all()
    sup.status("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
