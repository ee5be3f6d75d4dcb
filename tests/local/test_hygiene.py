"""No pod or proxy process outlives its cluster: not after close(), not after the owner is SIGKILLed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.manifests import load_manifest_files
from tests.support import children_of, reap_zombies

pytestmark = pytest.mark.local
ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "manifests" / "target.yaml"
OWNER = """
import asyncio, sys
from pathlib import Path
from chaoskit.cluster.local.cluster import LocalCluster
from chaoskit.cluster.manifests import load_manifest_files

async def main():
    cluster = LocalCluster()
    await cluster.start()
    await cluster.apply(load_manifest_files([Path(sys.argv[1])]))
    await cluster.wait_pods_ready("chaoskit-demo", {"app": "chaoskit-target"}, count=3, timeout_s=60)
    print("ready", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def _descendants_settle(pid: int, *, expect_none: bool, timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        reap_zombies()
        left = children_of(pid)
        if not left or not expect_none or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.mark.usefixtures("orphan_reaper")
def test_close_stops_every_process_it_started() -> None:

    async def scenario() -> list[int]:
        async with LocalCluster() as cluster:
            await cluster.apply(load_manifest_files([TARGET]))
            await cluster.wait_pods_ready("chaoskit-demo", {"app": "chaoskit-target"}, count=3, timeout_s=60)
            running = children_of(os.getpid())
            assert len(running) >= 4  # three pods and the proxy
            state = cluster.state_dir
        assert not state.exists()
        return running

    running = asyncio.run(scenario())
    assert running
    assert _descendants_settle(os.getpid(), expect_none=True) == []


@pytest.mark.usefixtures("orphan_reaper")
def test_sigkill_of_the_owner_leaves_no_pod_process() -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(TARGET)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "ready"
        pods = children_of(owner.pid)
        assert len(pods) >= 4
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        # The owner's children are re-parented to us (subreaper); the parent-death signal must have killed them.
        assert _descendants_settle(os.getpid(), expect_none=True) == []
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
