"""Node 2's mount namespace (private hostPath roots) and its kubelet's cgroup root; `down` removes both.

The mount namespace is kept alive by a bind mount of its nsfs file at <state>/node-2/ns/mnt (on a private
bind mount of that directory, as unshare(1) requires), so `nsenter --mount=` can put containerd 2 and
kubelet 2 in the *same* namespace: kubelet's volume mounts must be visible to runc.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
from pathlib import Path

from . import config
from .config import Node, Paths

CGROUP_FS = Path("/sys/fs/cgroup")


def _run(*argv: str) -> None:
    subprocess.run(list(argv), capture_output=True, text=True, check=True)


def private_source(p: Paths, node: Node, host_dir: str) -> Path:
    """Node 2's own copy of a host directory (bind-mounted over it inside its mount namespace)."""
    return p.node_dir(node) / "host" / host_dir.lstrip("/")


def setup_mount_ns(p: Paths, node: Node) -> None:
    """Create node 2's mount namespace with NODE2_PRIVATE_DIRS bind-mounted from its own copies.

    Propagation private: neither node sees the other's container, volume or netns mounts.
    """
    holder = p.mount_ns(node)
    holder.parent.mkdir(parents=True, exist_ok=True)
    _run("mount", "--bind", str(holder.parent), str(holder.parent))
    _run("mount", "--make-private", str(holder.parent))
    holder.touch()
    binds = []
    for host_dir in config.NODE2_PRIVATE_DIRS:
        # The mount point must exist on the host (`down` removes it if `up` created it: HOST_DIRS).
        Path(host_dir).mkdir(parents=True, exist_ok=True)
        src = private_source(p, node, host_dir)
        src.mkdir(parents=True, exist_ok=True)
        binds.append(f"mount --bind {shlex.quote(str(src))} {shlex.quote(host_dir)}")
    _run("unshare", f"--mount={holder}", "--propagation", "private", "sh", "-ec", " && ".join(binds))


def cgroup_controllers() -> list[Path]:
    """Every mounted cgroup v1 hierarchy (and the v2 one of a hybrid layout); not the alias symlinks."""
    return [d for d in sorted(CGROUP_FS.iterdir()) if d.is_dir() and not d.is_symlink()]


def create_cgroup_root(node: Node) -> None:
    """kubelet refuses a cgroupRoot that does not exist; make it in every hierarchy."""
    name = str(node.cgroup_root).strip("/")
    for ctrl in cgroup_controllers():
        top = ctrl / name
        top.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            # A new v1 cpuset starts empty and accepts no task until these are set.
            if (ctrl / knob).exists() and not (top / knob).read_text().strip():
                (top / knob).write_text((ctrl / knob).read_text())


def remove_cgroup_trees(names: tuple[str, ...]) -> list[str]:
    """Delete the named top-level cgroup trees, deepest first (empty once their processes are gone)."""
    left = []
    for ctrl in cgroup_controllers():
        for name in names:
            top = ctrl / name
            if not top.is_dir():
                continue
            dirs = sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True)
            for d in [*dirs, top]:
                with contextlib.suppress(OSError):
                    d.rmdir()
            if top.exists():
                left.append(str(top))
    return left
