"""`down`: stop exactly the processes `up` started and remove the host state it created.

Safe to run at any time: every step is idempotent and bounded, and it works from whatever is left
(a live supervisor, only PID files, or nothing at all).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from . import config, network, nodens, procs
from .config import Paths

CGROUP_ROOT2 = str(config.NODE2.cgroup_root).strip("/")

PROGRAM = {"api-relay": "socat", "kubelet-2": "kubelet", "containerd-2": "containerd",
           "kube-proxy-2": "kube-proxy", "cloud-controller": "tb.cloud"}
"""Component name -> the word its command line must contain (default: the name itself)."""
COMPONENT_ORDER = ("kube-proxy-2", "kube-proxy", "kubelet-2", "kubelet", "cloud-controller", "kube-scheduler",
                   "kube-controller-manager", "containerd-2", "containerd", "api-relay", "kube-apiserver", "etcd")
ALL_NODES = (config.NODE1, config.NODE2)
"""`down` looks for both nodes whatever TB_NODES says: it must also clean up after a run with the other value."""


def _pid_of(p: Paths, name: str, *, marker: str) -> int | None:
    """The recorded PID, only if that PID still runs the program we started (no PID-reuse kills)."""
    path = p.pids / f"{name}.pid" if name != "supervisor" else p.supervisor_pid
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return None
    return pid if procs.alive(pid) and any(marker in a for a in procs.cmdline(pid)) else None


def remove_containers(sock: Path) -> None:
    """Kill every task one containerd runs for us (pods and sandboxes) while it is still up."""
    if not sock.exists():
        return
    ctr = ["ctr", "--address", str(sock), "--namespace", "k8s.io"]
    listed = subprocess.run([*ctr, "tasks", "ls", "-q"], capture_output=True, text=True,
                            timeout=30, check=False)
    for task in listed.stdout.split():
        subprocess.run([*ctr, "tasks", "kill", "-s", "SIGKILL", task], capture_output=True,
                       timeout=30, check=False)
    for task in listed.stdout.split():
        subprocess.run([*ctr, "tasks", "delete", "--force", task], capture_output=True,
                       timeout=30, check=False)


def _our_strays(p: Paths) -> list[int]:
    """Processes of ours that lost their supervisor: shims of our containerds, pod processes (cgroup
    `/kubepods/...` for node 1, `/cktb-n2/kubepods/...` for node 2: both contain `/kubepods`)."""
    found = []
    socks = tuple(str(p.sock(n)) for n in ALL_NODES)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        args = procs.cmdline(int(entry.name))
        try:
            cgroup = (entry / "cgroup").read_text()
        except OSError:
            continue
        if any(sock in a for a in args for sock in socks) or "/kubepods" in cgroup:
            found.append(int(entry.name))
    return found


def stop_processes(p: Paths) -> None:
    for node in ALL_NODES:
        kubelet = _pid_of(p, f"kubelet{node.suffix}", marker="kubelet")
        if kubelet:
            # First, so it does not restart the containers we are about to kill.
            procs.stop(kubelet, grace_s=10.0)
    for node in ALL_NODES:
        if _pid_of(p, f"containerd{node.suffix}", marker="containerd"):
            remove_containers(p.sock(node))
    sup = _pid_of(p, "supervisor", marker="tb.supervisor")
    if sup:
        procs.stop(sup, grace_s=120.0)
    for name in COMPONENT_ORDER:
        pid = _pid_of(p, name, marker=PROGRAM.get(name, name))
        if pid:
            procs.stop(pid, grace_s=10.0)
    deadline = time.monotonic() + 20.0
    while (strays := _our_strays(p)) and time.monotonic() < deadline:
        for pid in strays:
            procs.stop(pid, grace_s=1.0)


def unmount_under(root: Path) -> list[str]:
    """Unmount every mount point below `root`, deepest first; returns those that stay mounted."""
    prefix = str(root) + "/"
    for attempt in range(3):
        mounts = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(prefix):
                mounts.append(point)
        if not mounts:
            return []
        for point in sorted(set(mounts), key=lambda m: m.count("/"), reverse=True):
            flags = ["-l"] if attempt else []
            subprocess.run(["umount", *flags, point], capture_output=True, check=False)
    return mounts


def remove_host_dirs(p: Paths) -> None:
    """Delete the host directories our kubelet created (recorded as absent before `up`)."""
    record = p.state / "host-dirs-created.json"
    if not record.exists():
        return
    for d in json.loads(record.read_text()):
        if Path(d).is_dir():
            with contextlib.suppress(OSError):
                _rmtree_no_mounts(Path(d))


def _rmtree_no_mounts(path: Path) -> None:
    """rm -rf that refuses to descend into mount points (a hostPath bind mount must never be emptied)."""
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            if os.path.ismount(os.path.join(dirpath, d)):
                raise OSError(f"{dirpath}/{d} is still a mount point; not deleting {path}")
    shutil.rmtree(path)


def down(p: Paths) -> list[str]:
    """Tear everything down; returns problems that remain (empty when clean)."""
    problems: list[str] = []
    stop_processes(p)
    if _our_strays(p):
        problems.append(f"processes still running: {_our_strays(p)}")
    problems += [f"still mounted: {m}" for m in unmount_under(p.state)]
    # Node 1's kubelet: /kubepods; node 2's: /cktb-n2/kubepods (its cgroupRoot).
    problems += [f"cgroup left: {c}" for c in nodens.remove_cgroup_trees(("kubepods", CGROUP_ROOT2))]
    problems += network.teardown(p.state, str(p.bin / "kube-proxy"))
    with contextlib.suppress(OSError):
        for link in Path("/var/log/containers").iterdir():
            if link.is_symlink() and str(p.state) in os.readlink(link):
                link.unlink()
    remove_host_dirs(p)
    if p.state.exists():
        if p.logs.exists():
            keep = p.cache.parent / "last-logs"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(p.logs, keep)
        try:
            _rmtree_no_mounts(p.state)
        except OSError as exc:
            problems.append(str(exc))
    return problems
