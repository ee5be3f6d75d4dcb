"""Builds the test bed's container images as OCI archives from local files (nothing is pulled).

`pause` holds the pod sandbox; `httpd:2.4` mimics the official httpd image closely enough for our
manifests: busybox httpd serving /usr/local/apache2/htdocs on port 80, a /bin/sh, graceful stop; `busybox:1.36.1`
is Debian's busybox-static under the tag chaoskit's node-failure agent pins (and sidecars in the contract tests).
The third image, the Locust stand-in for chaoskit's load agent, is built by agent_image.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config

BUSYBOX = Path("/bin/busybox")
INDEX_HTML = b"<html><body><h1>It works!</h1></body></html>\n"
# PID 1 ignores signals it has no handler for, so a bare `httpd` would never stop on SIGTERM
# (or on `kill 1`); this wrapper forwards the stop signal, as Apache's own graceful stop would.
HTTPD_FOREGROUND = b"""#!/bin/sh
httpd -f -p 80 -h /usr/local/apache2/htdocs &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT WINCH
wait "$child"
status=$?
wait "$child" 2>/dev/null
exit "$status"
"""
HTTPD_PATH = "/usr/local/apache2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Rootfs:
    """An in-memory tar layer with deterministic metadata (mtime 0 unless given, root-owned unless given)."""

    buf: io.BytesIO = field(default_factory=io.BytesIO)

    def __post_init__(self) -> None:
        # Closed by close(), which also hands out the finished layer.
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def _add(self, name: str, kind: bytes, *, mode: int, data: bytes = b"", link: str = "", mtime: int = 0,
             owner: int = 0) -> None:
        info = tarfile.TarInfo(name.lstrip("/"))
        info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, link
        info.uid = info.gid = owner
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data) if data else None)

    def dir(self, name: str, mode: int = 0o755, *, owner: int = 0) -> None:
        self._add(name, tarfile.DIRTYPE, mode=mode, owner=owner)

    def file(self, name: str, data: bytes, mode: int = 0o644, *, mtime: int = 0) -> None:
        """`mtime` other than 0: a copied file whose timestamp matters (Python checks .pyc against .py)."""
        self._add(name, tarfile.REGTYPE, mode=mode, data=data, mtime=mtime)

    def symlink(self, name: str, target: str) -> None:
        self._add(name, tarfile.SYMTYPE, mode=0o777, link=target)

    def close(self) -> bytes:
        self.tar.close()
        return self.buf.getvalue()


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _busybox_rootfs() -> Rootfs:
    fs = Rootfs()
    for d in ("/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin", "/usr/local", "/usr/local/bin",
              "/etc", "/proc", "/sys", "/dev", "/var", "/root"):
        fs.dir(d)
    fs.dir("/tmp", 0o1777)
    fs.file("/bin/busybox", BUSYBOX.read_bytes(), 0o755)
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in sorted(set(applets) - {"busybox"}):
        fs.symlink(f"/bin/{applet}", "busybox")
    fs.file("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/:/bin/false\n"
            b"www-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    fs.file("/etc/group", b"root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n")
    return fs


def _httpd_layer() -> bytes:
    fs = _busybox_rootfs()
    for d in ("/usr/local/apache2", "/usr/local/apache2/bin", "/usr/local/apache2/htdocs",
              "/usr/local/apache2/logs"):
        fs.dir(d)
    fs.file("/usr/local/apache2/htdocs/index.html", INDEX_HTML)
    fs.file("/usr/local/bin/httpd-foreground", HTTPD_FOREGROUND, 0o755)
    return fs.close()


def _pause_layer(pause_bin: Path) -> bytes:
    fs = Rootfs()
    fs.file("/pause", pause_bin.read_bytes(), 0o755)
    return fs.close()


def _blob(blobs: dict[str, bytes], data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"digest": digest, "size": len(data)}


def write_oci(out: Path, *, name: str, layer: bytes, image_config: dict[str, Any]) -> Path:
    """Write a one-layer OCI image archive that `ctr images import` tags as `name`."""
    blobs: dict[str, bytes] = {}
    layer_ref = _blob(blobs, layer)
    cfg = {
        "architecture": _arch(), "os": "linux", "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [layer_ref["digest"]]},
        "history": [{"created_by": "chaoskit testbed/tb/images.py"}],
    }
    cfg_ref = _blob(blobs, json.dumps(cfg, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg_ref},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_ref}],
    }
    man_ref = _blob(blobs, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **man_ref,
            "platform": {"architecture": _arch(), "os": "linux"},
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]},
        }],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        files = {"oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
                 "index.json": json.dumps(index).encode()}
        files.update({f"blobs/sha256/{d.split(':')[1]}": b for d, b in blobs.items()})
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(out)
    return out


def build_all(images_dir: Path, pause_bin: Path) -> list[str]:
    """Build the three archives (about a second; rebuilt every `up` so they track busybox and pause)."""
    pause = write_oci(images_dir / "pause.tar", name=config.PAUSE_IMAGE, layer=_pause_layer(pause_bin),
                      image_config={"Entrypoint": ["/pause"], "User": "65535:65535"})
    httpd = write_oci(images_dir / "httpd.tar", name=config.HTTPD_IMAGE, layer=_httpd_layer(),
                      image_config={
                          "Cmd": ["httpd-foreground"], "WorkingDir": "/usr/local/apache2",
                          "Env": [f"PATH={HTTPD_PATH}", "HTTPD_PREFIX=/usr/local/apache2"],
                          "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGWINCH",
                      })
    busybox = write_oci(images_dir / "busybox.tar", name=config.BUSYBOX_IMAGE, layer=_busybox_rootfs().close(),
                        image_config={"Cmd": ["sh"], "Env": [f"PATH={HTTPD_PATH}"]})
    return [str(pause), str(httpd), str(busybox)]
