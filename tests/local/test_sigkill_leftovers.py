"""SIGKILL `chaoskit run` at random moments on the embedded cluster: after `chaoskit cleanup` nothing is left.

Each trial kills 0-4 s (seeded) after the run made its directory (every fifth: after the launch). Nothing
means: no process of the run (orphans come to this test, a child subreaper), no listening socket on
the run's loopback addresses, no state directory of the embedded cluster, and no run directory that is
empty or incomplete without its marker. The runs' temp directory is the test's own (TMPDIR), so only these
runs' state directories are looked at.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chaoskit.engine.rundir import INCOMPLETE
from tests.support import children_of, reap_zombies

pytestmark = [pytest.mark.local, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
TRIALS = int(os.environ.get("CHAOSKIT_SIGKILL_TRIALS", "20"))
EXPERIMENT = """
name: killed
description: pod-recreate in four seconds, for SIGKILL trials.
target:
  namespace: chaoskit-demo
  manifests: [{manifest}]
  selector: {{app: chaoskit-target}}
  replicas: 3
load:
  rate: 20
  services:
    - {{name: chaoskit-target, types: [ClusterIP]}}
    - {{name: chaoskit-target-nodeport, types: [NodePort]}}
phases: {{baseline: 1s, chaos: 2s, recovery: 1s}}
faults:
  - kind: pod-delete
    schedule: {{at: 0.5s}}
data:
  - volume: scratch
  - volume: node-data
"""


@dataclass
class Trials:
    killed_at: list[float] = field(default_factory=list)
    sockets_seen: int = 0
    leftover_processes: list[int] = field(default_factory=list)
    leftover_sockets: list[str] = field(default_factory=list)


def _listening() -> dict[int, str]:
    """socket inode -> ``ip:port`` of every listening TCP socket on 127.0.0.0/8."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] != "0A":
            continue
        address, port = fields[1].split(":")
        ip = ".".join(str(b) for b in reversed(bytes.fromhex(address)))
        if ip.startswith("127."):
            found[int(fields[9])] = f"{ip}:{int(port, 16)}"
    return found


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children_of(current))
    return out


def _sockets_of(pids: list[int]) -> set[int]:
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
        except OSError:
            continue  # it exited meanwhile
    return inodes


def _settle(timeout_s: float = 15.0) -> list[int]:
    """Orphans of a killed run die of their parent-death signal; wait (bounded) until none is left."""
    deadline = time.monotonic() + timeout_s
    while True:
        reap_zombies()
        left = children_of(os.getpid())
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _wait_for_new_entry(directory: Path, known: set[str], process: subprocess.Popen[bytes]) -> None:
    """Until the run made its directory (bounded; the interpreter's start-up takes a while on a busy host)."""
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if directory.exists() and {p.name for p in directory.iterdir()} - known:
            return
        time.sleep(0.02)


def _one_trial(command: list[str], env: dict[str, str], runs: Path, *, delay_s: float, from_launch: bool,
               trials: Trials) -> None:
    known = {p.name for p in runs.iterdir()} if runs.exists() else set()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not from_launch:  # a random moment of the run itself: setup, load, faults, markers
            _wait_for_new_entry(runs, known, process)
        time.sleep(delay_s)
        listening = _listening()
        ours = {listening[i] for i in _sockets_of(_tree(process.pid)) if i in listening}
        trials.sockets_seen += len(ours)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    trials.leftover_processes += _settle()
    trials.leftover_sockets += sorted(ours & set(_listening().values()))


@pytest.mark.timeout(420)
@pytest.mark.usefixtures("orphan_reaper")
def test_sigkill_at_random_moments_leaves_nothing_after_cleanup(tmp_path: Path) -> None:
    temp, runs = tmp_path / "tmp", tmp_path / "runs"
    temp.mkdir()
    experiment = tmp_path / "killed.yaml"
    experiment.write_text(EXPERIMENT.format(manifest=ROOT / "manifests" / "target.yaml"))
    env = {**os.environ, "TMPDIR": str(temp)}
    command = [sys.executable, "-m", "chaoskit.cli", "run", str(experiment), "--out", str(runs), "--quiet"]
    rng = random.Random(20261202)
    trials = Trials()
    for i in range(TRIALS):
        trials.killed_at.append(round(rng.uniform(0.0, 4.0), 2))
        # Every fifth trial counts from the launch (a kill during start-up), the others from the run's start.
        _one_trial(command, env, runs, delay_s=trials.killed_at[-1], from_launch=i % 5 == 4, trials=trials)
    state_dirs = sorted(p.name for p in temp.iterdir() if p.name.startswith("chaoskit-local-"))
    run_dirs = sorted(p.name for p in runs.iterdir()) if runs.exists() else []

    result = subprocess.run([sys.executable, "-m", "chaoskit.cli", "cleanup", "--out", str(runs)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    print(f"{TRIALS} trials killed at {trials.killed_at} s; {trials.sockets_seen} listening sockets seen; "
          f"before cleanup: {len(state_dirs)} state dirs, {len(run_dirs)} run dirs\n{result.stdout}")
    assert result.returncode == 0, result.stderr
    assert trials.leftover_processes == []
    assert trials.leftover_sockets == []
    assert [p.name for p in temp.iterdir() if p.name.startswith("chaoskit-local-")] == []
    for run_dir in runs.iterdir() if runs.exists() else []:
        names = {p.name for p in run_dir.iterdir()}
        assert names - {INCOMPLETE}, f"{run_dir} is empty"
        assert "summary.json" in names or INCOMPLETE in names, f"{run_dir} is incomplete and unmarked"
    # The trials did leave things for cleanup to remove (else the assertions above prove nothing).
    assert state_dirs and run_dirs and trials.sockets_seen
    again = subprocess.run([sys.executable, "-m", "chaoskit.cli", "cleanup", "--out", str(runs)], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    assert (again.returncode, again.stdout.strip()) == (0, "nothing left behind")
