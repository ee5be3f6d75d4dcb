"""The stand-in for `docker.io/locustio/locust:2.47.0`, built from this machine's files (nothing is pulled).

The project's venv Python (`<repo>/.venv/bin/python`, or `TB_AGENT_PYTHON`) says, via agent_gather.py,
which base interpreter it runs on and which files make up `locust` and its requirements. The image holds
that interpreter at its host path (so its prefix search works unchanged), its stdlib minus the big parts
nobody imports, the distributions in the base interpreter's own site-packages (so `import locust` needs
no PYTHONPATH), every shared library `ldd` reports (at the paths ldd gives, host symlinks kept), busybox
for a shell, and the official image's config: `ENTRYPOINT ["locust"]`, user `locust` (1000),
`WORKDIR /home/locust`. The archive is cached, keyed by the path, size and mtime of every input file.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config
from .images import BUSYBOX, Rootfs, write_oci

REPO = Path(__file__).resolve().parents[2]
GATHER = Path(__file__).with_name("agent_gather.py")
ARCHIVE = "locust.tar"
STDLIB_SKIP = frozenset({"site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo",
                         "ensurepip", "lib2to3"})
AGENT_UID = 1000
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGE_CONFIG: dict[str, Any] = {
    "Entrypoint": ["locust"], "User": "locust", "WorkingDir": "/home/locust",
    "Env": [f"PATH={PATH}", "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"],
    "ExposedPorts": {"8089/tcp": {}, "5557/tcp": {}},
}
LOCUST_SCRIPT = b"""#!/usr/local/bin/python
import sys
from locust.main import main
if __name__ == "__main__":
    sys.exit(main())
"""
PASSWD = f"root:x:0:0:root:/root:/bin/sh\nlocust:x:{AGENT_UID}:{AGENT_UID}::/home/locust:/bin/sh\n"
GROUP = f"root:x:0:\nlocust:x:{AGENT_UID}:\n"
HOW_TO_FIX = "create the venv with `make test` first, or set TB_AGENT_PYTHON to a Python with locust installed"


class AgentImageError(Exception):
    """The agent image cannot be built; the message is one line saying what to do."""


def agent_python() -> Path:
    return Path(os.environ.get("TB_AGENT_PYTHON") or REPO / ".venv" / "bin" / "python")


def gather(python: Path | None = None) -> dict[str, Any]:
    """Ask the venv Python (agent_gather.py, run by path, isolated) what the image needs."""
    python = python or agent_python()
    if not os.access(python, os.X_OK):
        raise AgentImageError(f"agent image: no Python at {python}: {HOW_TO_FIX}")
    done = subprocess.run([str(python), "-I", str(GATHER)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise AgentImageError(f"agent image: {python} cannot provide locust ({why}): {HOW_TO_FIX}")
    info: dict[str, Any] = json.loads(done.stdout)
    return info


@dataclass(slots=True)
class Plan:
    """The layer's entries in tar order, from host metadata only (cheap: the cache key comes from it)."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _put(self, name: str, entry: dict[str, Any]) -> None:
        self.parents(name)
        old = self.entries.setdefault(name, entry)
        if old["kind"] != entry["kind"]:
            raise AgentImageError(f"agent image: {name} wanted as {entry['kind']} and as {old['kind']}")

    def parents(self, name: str) -> None:
        parent = os.path.dirname(name)
        if parent != "/":
            self._put(parent, {"kind": "dir", "mode": 0o755, "owner": 0})

    def dir(self, name: str, mode: int = 0o755, owner: int = 0) -> None:
        self._put(name, {"kind": "dir", "mode": mode, "owner": owner})

    def data(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._put(name, {"kind": "data", "mode": mode, "data": data})

    def symlink(self, name: str, target: str) -> None:
        self._put(name, {"kind": "link", "target": target})

    def host(self, name: str, src: str) -> None:
        """The host file or symlink `src` at `name` (root-owned, world-readable, host mtime)."""
        st = os.lstat(src)
        if stat.S_ISLNK(st.st_mode):
            self.symlink(name, os.readlink(src))
        elif stat.S_ISREG(st.st_mode):
            self._put(name, {"kind": "file", "src": src, "mode": (st.st_mode & 0o755) | 0o444,
                             "size": st.st_size, "mtime": int(st.st_mtime), "mtime_ns": st.st_mtime_ns})

    def mirror(self, path: str, depth: int = 0) -> None:
        """Host `path` at the same path, resolving as on the host: each symlink on the way is kept as a
        symlink and its target added too (e.g. /lib -> usr/lib, /lib64/ld-linux -> /lib/...)."""
        if depth > 16:
            raise AgentImageError(f"agent image: too many symlinks resolving {path}")
        parts = Path(path).parts
        for i in range(2, len(parts) + 1):
            cur = os.path.join(*parts[:i])
            if os.path.islink(cur):
                target = os.readlink(cur)
                self.symlink(cur, target)
                resolved = os.path.normpath(os.path.join(os.path.dirname(cur), target, *parts[i:]))
                self.mirror(resolved, depth + 1)
                return
            if i < len(parts) or os.path.isdir(cur):
                self.dir(cur)
            else:
                self.host(cur, cur)

    def tree(self, top: str, skip: frozenset[str], skip_paths: frozenset[str]) -> None:
        """Every file under `top` (symlinks kept), minus top-level names in `skip`, paths in `skip_paths`,
        optimized bytecode (.opt-N.pyc) and tkinter's extension module."""
        for dirpath, dirnames, filenames in os.walk(top):
            self.dir(dirpath)
            dirnames[:] = sorted(n for n in dirnames
                                 if not (dirpath == top and (n in skip or n.startswith("config-")))
                                 and os.path.join(dirpath, n) not in skip_paths)
            for n in [n for n in dirnames if os.path.islink(os.path.join(dirpath, n))]:
                self.host(os.path.join(dirpath, n), os.path.join(dirpath, n))
                dirnames.remove(n)
            for n in sorted(filenames):
                if ".opt-" not in n and not n.startswith("_tkinter"):
                    self.host(os.path.join(dirpath, n), os.path.join(dirpath, n))

    def key(self) -> str:
        """Hash of every entry (paths, modes, sizes, mtimes, inline data) and of the code that builds."""
        h = hashlib.sha256()
        for name, e in self.entries.items():
            meta = {k: (hashlib.sha256(v).hexdigest() if k == "data" else v) for k, v in e.items()}
            h.update(json.dumps([name, meta], sort_keys=True).encode())
        for code in (Path(__file__), GATHER, Path(__file__).with_name("images.py")):
            h.update(code.read_bytes())
        h.update(json.dumps(IMAGE_CONFIG, sort_keys=True).encode())
        return h.hexdigest()

    def layer(self) -> bytes:
        fs = Rootfs()
        for name, e in self.entries.items():
            if e["kind"] == "dir":
                fs.dir(name, e["mode"], owner=e["owner"])
            elif e["kind"] == "link":
                fs.symlink(name, e["target"])
            elif e["kind"] == "data":
                fs.file(name, e["data"], e["mode"])
            else:
                fs.file(name, Path(e["src"]).read_bytes(), e["mode"], mtime=e["mtime"])
        return fs.close()


def _is_shared_object(path: str) -> bool:
    name = os.path.basename(path)
    return name.endswith(".so") or ".so." in name


def shared_libs(objects: list[str]) -> list[str]:
    """Every library path `ldd` reports for `objects` (transitively), the dynamic loader included."""
    out = subprocess.run(["ldd", *objects], capture_output=True, text=True, check=False).stdout
    libs = set()
    for line in out.splitlines():
        if line.startswith("\t") and "(0x" in line:
            path = line.split("=>")[-1].split("(0x")[0].strip()
            if path.startswith("/"):
                libs.add(path)
    return sorted(libs)


def _python_and_libs(plan: Plan, info: dict[str, Any], dist_sources: set[str]) -> None:
    """Interpreter, stdlib, lib-dynload and every library they and the packages' extensions load."""
    exe, stdlib, dynload, site = info["executable"], info["stdlib"], info["dynload"], info["site"]
    plan.mirror(exe)
    skip_paths = frozenset({site, os.path.realpath(site)})
    for top in [stdlib] + ([] if dynload.startswith(stdlib + "/") else [dynload]):
        plan.mirror(top)
        plan.tree(os.path.realpath(top), STDLIB_SKIP, skip_paths)
    objects = [exe] + [e["src"] for e in plan.entries.values()
                       if e["kind"] == "file" and _is_shared_object(e["src"])]
    objects += sorted(s for s in dist_sources if _is_shared_object(s))
    for lib in shared_libs(objects):
        if os.path.realpath(lib) not in dist_sources:  # wheels' own .libs come with their package
            plan.mirror(lib)


def _system_files(plan: Plan, exe: str) -> None:
    """busybox (/bin/sh), python links, the locust entry script, users, /tmp, /home/locust."""
    bb = os.path.realpath(BUSYBOX)
    plan.mirror(str(BUSYBOX))
    applets = subprocess.run([bb, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in sorted(set(applets) - {"busybox"}):
        plan.symlink(os.path.join(os.path.dirname(bb), applet), "busybox")
    plan.symlink("/usr/local/bin/python3", exe)
    plan.symlink("/usr/local/bin/python", "python3")
    plan.data("/usr/local/bin/locust", LOCUST_SCRIPT, 0o755)
    plan.data("/etc/passwd", PASSWD.encode())
    plan.data("/etc/group", GROUP.encode())
    plan.data("/etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    for d in ("/proc", "/sys", "/dev", "/root"):
        plan.dir(d)
    plan.dir("/tmp", 0o1777)
    plan.dir("/home/locust", 0o755, owner=AGENT_UID)


def make_plan(info: dict[str, Any]) -> Plan:
    plan = Plan()
    for d in ("/etc", "/proc", "/sys", "/dev", "/root", "/home", "/usr", "/usr/local", "/usr/local/bin"):
        plan.dir(d)
    dist_files = [(src, rel) for dist in info["dists"] for src, rel in dist["files"]]
    _python_and_libs(plan, info, {os.path.realpath(src) for src, _ in dist_files})
    site = os.path.realpath(info["site"])
    plan.mirror(site)
    for src, rel in dist_files:
        plan.host(os.path.join(site, rel), src)
    _system_files(plan, info["executable"])
    return plan


def say(text: str) -> None:
    print(f"testbed: {text}", file=sys.stderr, flush=True)


def build(images_dir: Path, info: dict[str, Any]) -> Path:
    """The archive, rebuilt only when an input file, the builder or the image config changed."""
    t0 = time.monotonic()
    out, stamp = images_dir / ARCHIVE, images_dir / (ARCHIVE + ".key")
    plan = make_plan(info)
    key = plan.key()
    files = sum(e["kind"] == "file" for e in plan.entries.values())
    if out.exists() and stamp.exists() and stamp.read_text().strip() == key:
        say(f"agent image {config.AGENT_IMAGE}: cached, {out.stat().st_size / 1e6:.0f} MB ({files} files, "
            f"checked in {time.monotonic() - t0:.1f}s)")
        return out
    if info["locust_version"] != config.AGENT_IMAGE.rsplit(":", 1)[1]:
        say(f"agent image: WARNING: the venv has locust {info['locust_version']}, tagged "
            f"{config.AGENT_IMAGE} anyway")
    write_oci(out, name=config.AGENT_IMAGE, layer=plan.layer(), image_config=IMAGE_CONFIG)
    stamp.write_text(key + "\n")
    say(f"agent image {config.AGENT_IMAGE}: built in {time.monotonic() - t0:.1f}s, "
        f"{out.stat().st_size / 1e6:.0f} MB ({files} files, python {info['version']}, "
        f"locust {info['locust_version']})")
    return out
