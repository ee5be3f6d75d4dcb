"""The in-cluster agent's pod program, run here as a real process: the ConfigMap laid out as the kubelet
mounts it, the wrapper run by path, its stdout decoded as chaoskit decodes the pod log."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaoskit.cluster.kube import loadjob
from chaoskit.load.decode import decode
from chaoskit.load.plan import LoadPlan, LoadTarget
from tests.local.test_load_agent import Server

pytestmark = pytest.mark.local


def mount_config_map(root: Path, plan: LoadPlan) -> Path:
    """Write the ConfigMap's items where the Job's volume mount puts them; return the wrapper's path."""
    spec = loadjob.AgentJobSpec(namespace="ns", run_id="t1", plan_json=plan.to_json(), deadline_s=60)
    _account, config_map, job = loadjob.render(spec)
    for item in job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"]:
        path = root / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config_map["data"][item["key"]])
    return root / "wrapper.py"


def start_wrapper(wrapper: Path, plan: LoadPlan) -> subprocess.Popen[str]:
    # As in the pod: the plan comes from the mounted plan.json (the wrapper points the locustfile at it).
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.Popen([sys.executable, str(wrapper)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=wrapper.parent)


def plan_for(server: Server, *, duration_s: float) -> LoadPlan:
    return LoadPlan(targets=(LoadTarget("web", "ClusterIP", server.host, server.port),), rate=50.0,
                    duration_s=duration_s, connection="keepalive", timeout_s=1.0, start_lead_s=0.5)


def kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)


def test_wrapper_streams_every_record_and_its_exit_status(tmp_path: Path) -> None:
    with Server("127.0.0.1") as server:
        plan = plan_for(server, duration_s=1.0)
        proc = start_wrapper(mount_config_map(tmp_path, plan), plan)
        try:
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            kill_group(proc)
    assert proc.returncode == 0, stderr[-2000:]
    log = loadjob.split_log(stdout.splitlines())
    assert [m["event"] for m in log.control] == ["ready", "done", "exit"]
    ready, done, exit_status = log.control
    assert exit_status["code"] == 0
    frame = decode(log.records, plan)
    assert len(frame) == done["requests"] == 50
    assert frame["ok"].all() and set(frame["service_type"]) == {"ClusterIP"}
    # The agent chose its own t0 half a second (start_lead_s) after it was ready, and kept to it.
    assert ready["t0_ns"] - ready["now_ns"] == 500_000_000
    assert frame["scheduled_ns"].min() == ready["t0_ns"]


def test_sigterm_to_the_wrapper_stops_the_load_early_and_still_reports(tmp_path: Path) -> None:
    """The kubelet's SIGTERM reaches PID 1, the wrapper: it must pass it on, or the pod would only die
    at the grace period's SIGKILL with no summary."""
    with Server("127.0.0.1") as server:
        plan = plan_for(server, duration_s=60.0)
        proc = start_wrapper(mount_config_map(tmp_path, plan), plan)
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()  # the ready line: the agent is loading
            assert first.startswith(loadjob.CONTROL_PREFIX), first
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            stdout, _stderr = proc.communicate(timeout=20)
        finally:
            kill_group(proc)
    log = loadjob.split_log([first, *stdout.splitlines()])
    events = {m["event"]: m for m in log.control}
    assert events["done"]["stopped"] is True
    assert events["exit"]["code"] == proc.returncode == 0
    frame = decode(log.records, plan)
    assert len(frame) == events["done"]["requests"]
    assert 20 <= len(frame) < 50 * 10  # about a second of load, far from the plan's 3,000
