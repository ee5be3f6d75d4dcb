"""The node agent's script (chaoskit/cluster/kube/nodefail.py) run for real on this machine, no cluster needed:
a stand-in kubelet in a private network namespace, a "container" process in a cgroup named like a container ID.

``stop`` freezes exactly the kubelet and the listed container's processes and thaws them when its timer ends;
``partition`` adds the DROP rules in the kubelet's network namespace and removes them; SIGTERM restores early;
an agent never told to fail touches nothing. Needs root, unshare, iptables and a cgroup v1 ``pids`` hierarchy.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaoskit.cluster.kube import nodefail

pytestmark = pytest.mark.local
BUSYBOX = shutil.which("busybox")
PIDS_CGROUP = Path("/sys/fs/cgroup/pids")
FAKE_KUBELET = "ck-fakekubelet"

if os.geteuid() != 0 or BUSYBOX is None or not shutil.which("unshare") or not shutil.which("iptables") \
        or not PIDS_CGROUP.is_dir():
    pytest.skip("needs root, busybox, unshare, iptables and /sys/fs/cgroup/pids", allow_module_level=True)

HARNESS = r'''
set -u
ip link set lo up
"$FAKE_DIR/ck-fakekubelet" 300 & echo $! > "$AGENT_DIR/kubelet.pid"
mkdir -p "$CGROUP"
sh -c 'echo $$ > "$CGROUP/cgroup.procs"; exec sleep 300' & echo $! > "$AGENT_DIR/victim.pid"
sleep 300 & echo $! > "$AGENT_DIR/bystander.pid"
"$BUSYBOX" sh "$AGENT_DIR/agent.sh" > "$AGENT_DIR/log" 2>&1 &
echo $! > "$AGENT_DIR/agent.shell.pid"
wait
'''


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def wait_for(check: Callable[[], bool], *, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Node:
    """One trial: the harness in its own network namespace, with the agent's files in ``work``."""

    def __init__(self, work: Path, mode: str, duration_s: float) -> None:
        self.work = work
        self.cgroup = PIDS_CGROUP / f"cktest-{secrets.token_hex(16)}"
        (work / "agent.sh").write_text(nodefail.SCRIPT)
        (work / FAKE_KUBELET).symlink_to(shutil.which("sleep") or "/bin/sleep")
        env = {**os.environ, "AGENT_DIR": str(work), "FAKE_DIR": str(work), "CGROUP": str(self.cgroup),
               "BUSYBOX": str(BUSYBOX), "MODE": mode, "DURATION_S": str(duration_s), "ARM_TIMEOUT_S": "20",
               "SETTLE_S": "0.1", "API_ENDPOINTS": "10.123.0.1:6443", "CHAIN": nodefail.CHAIN,
               "KUBELET_COMM": FAKE_KUBELET}
        self.proc = subprocess.Popen(["unshare", "--net", "sh", "-c", HARNESS], env=env, start_new_session=True)
        wait_for((work / "armed").exists)

    def pid(self, name: str) -> int:
        return int((self.work / f"{name}.pid").read_text())

    @property
    def container_id(self) -> str:
        return self.cgroup.name.removeprefix("cktest-")

    def go(self, *ids: str) -> None:
        command = nodefail.GO_COMMAND.replace("/tmp/", f"{self.work}/")
        subprocess.run(["sh", "-c", command, "go", *ids], check=True)

    def rules(self) -> str:
        kubelet = self.pid("kubelet")
        return subprocess.run(["nsenter", "-t", str(kubelet), "-n", "iptables", "-S"], capture_output=True,
                              text=True, check=True).stdout

    def log(self) -> nodefail.AgentLog:
        return nodefail.parse_log((self.work / "log").read_text())

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        for name in ("kubelet", "victim", "bystander"):
            with contextlib.suppress(OSError):
                os.kill(self.pid(name), signal.SIGCONT)
                os.kill(self.pid(name), signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.cgroup.exists():
            wait_for(lambda: not (self.cgroup / "cgroup.procs").read_text().strip())
            self.cgroup.rmdir()


@pytest.fixture
def trial(tmp_path: Path) -> Iterator[list[Node]]:
    made: list[Node] = []
    yield made
    for node in made:
        node.close()


def test_stop_freezes_the_kubelet_and_the_listed_containers_and_thaws_them_on_its_timer(
        tmp_path: Path, trial: list[Node]) -> None:
    node = Node(tmp_path, "stop", 1.5)
    trial.append(node)
    node.go(node.container_id, "", "not-hex!")  # junk and an empty line must not widen what is frozen
    wait_for(lambda: node.log().failed_s is not None)
    assert state(node.pid("kubelet")) == "T"
    assert state(node.pid("victim")) == "T"
    assert state(node.pid("bystander")) != "T"  # not in a listed container
    wait_for(lambda: node.log().restored_s is not None)
    assert state(node.pid("kubelet")) != "T" and state(node.pid("victim")) != "T"
    log = node.log()
    assert log.failed_s is not None and log.restored_s is not None and log.errors == ()
    assert log.restored_s - log.failed_s >= 1.5  # its own timer: the whole duration
    wait_for(lambda: not Path(f"/proc/{node.pid('agent.shell')}").exists())  # and then it is done


def test_partition_adds_the_drop_rules_in_the_nodes_namespace_and_sigterm_removes_them(
        tmp_path: Path, trial: list[Node]) -> None:
    node = Node(tmp_path, "partition", 60)
    trial.append(node)
    node.go()
    wait_for(lambda: node.log().failed_s is not None)
    rules = node.rules()
    assert f"-A OUTPUT -j {nodefail.CHAIN}" in rules and f"-A INPUT -j {nodefail.CHAIN}" in rules
    assert "-d 10.123.0.1/32 -p tcp -m tcp --dport 6443 -j DROP" in rules
    host_rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True).stdout
    assert nodefail.CHAIN not in host_rules  # only in the node's (here: the private) network namespace
    assert state(node.pid("kubelet")) != "T"  # a partitioned node goes on running
    os.kill(node.pid("agent.shell"), signal.SIGTERM)  # what the kubelet sends on delete or activeDeadlineSeconds
    wait_for(lambda: node.log().restored_s is not None)
    assert nodefail.CHAIN not in node.rules()


def test_an_agent_never_told_to_fail_touches_nothing(tmp_path: Path, trial: list[Node]) -> None:
    node = Node(tmp_path, "stop", 5)
    trial.append(node)
    os.kill(node.pid("agent.shell"), signal.SIGTERM)
    wait_for(lambda: "stopping on TERM" in (tmp_path / "log").read_text())
    assert node.log().failed_s is None and node.log().restored_s is None
    assert state(node.pid("kubelet")) != "T"
