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
from tests.local.test_load_agent import Server, free_port

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


def test_an_image_without_locust_says_so_and_exits(tmp_path: Path) -> None:
    """A Python without Locust (here: ours without site-packages) gets a plain control message, not a traceback."""
    plan = LoadPlan(targets=(LoadTarget("web", "ClusterIP", "127.0.0.1", 9),), rate=1.0, duration_s=1.0,
                    connection="keepalive", timeout_s=1.0)
    wrapper = mount_config_map(tmp_path, plan)
    done = subprocess.run([sys.executable, "-S", str(wrapper)], capture_output=True, text=True, timeout=30,
                          check=False, cwd=wrapper.parent)
    log = loadjob.split_log(done.stdout.splitlines())
    assert [m["event"] for m in log.control] == ["no-locust", "exit"]
    assert log.control[1]["code"] == done.returncode == 3
    assert log.control[0]["executable"] == sys.executable


def test_wrappers_as_pods_run_locusts_distributed_mode(tmp_path: Path) -> None:
    """The master's and workers' Jobs as processes: each worker's records come out of its own stdout (its pod
    log), shares interleaved, every request once; the master only coordinates. As in pods, the master applies
    each worker's measured clock offset to its t0, and subtracting it puts the records on the master's clock."""
    with Server("127.0.0.1") as server:
        plan = LoadPlan(targets=(LoadTarget("web", "ClusterIP", server.host, server.port),), rate=40.0,
                        duration_s=1.0, connection="keepalive", timeout_s=1.0, start_lead_s=0.5, workers=2)
        wrapper = mount_config_map(tmp_path, plan)
        port = free_port("127.0.0.1")
        master = start_role(wrapper, "master", {"CHAOSKIT_LOAD_MASTER_BIND": f"127.0.0.1:{port}"})
        workers = [start_role(wrapper, "worker", {"CHAOSKIT_LOAD_MASTER_HOST": "127.0.0.1",
                                                   "CHAOSKIT_LOAD_MASTER_PORT": str(port)}) for _ in range(2)]
        try:
            outputs = [p.communicate(timeout=90)[0] for p in (*workers, master)]
        finally:
            for proc in (master, *workers):
                kill_group(proc)
    *worker_logs, master_log = (loadjob.split_log(o.splitlines()) for o in outputs)
    master_events = {m["event"]: m for m in master_log.control}
    assert master_log.records == bytearray() and master_events["exit"]["code"] == 0
    t0 = master_events["ready"]["t0_ns"]
    applied = {w["index"]: w["applied_ns"] for w in master_events["ready"]["workers"]}
    assert all(abs(a) < 5_000_000 for a in applied.values())  # one host: the measured offsets are ~0
    scheduled, shares = [], []
    for log in worker_logs:
        index = {m["event"]: m for m in log.control}["ready"]["worker"]
        frame = decode(log.records, plan)
        shares.append((index, len(frame)))
        scheduled += [int(x) - applied[index] for x in frame["scheduled_ns"]]
    assert sorted(shares) == [(0, 20), (1, 20)]
    assert sorted(scheduled) == [t0 + int(i * 1e9 / 40.0) for i in range(40)]


def start_role(wrapper: Path, role: str, extra: dict[str, str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"CHAOSKIT_LOAD_ROLE": role, **extra})
    return subprocess.Popen([sys.executable, str(wrapper)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True, cwd=wrapper.parent)
