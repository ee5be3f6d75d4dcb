"""Run by path under the project's venv Python (`python -I agent_gather.py`): print, as JSON, what the
Locust stand-in image needs from this machine. No relative imports: this file is not run as part of `tb`.

Output: the base interpreter (resolved), its prefix, stdlib and lib-dynload dirs, the site-packages dir
the base interpreter uses when no venv is active, and the files of `locust` plus the closure of its
requirements (markers evaluated, extras skipped), each as [source path, path inside site-packages].
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = "locust"
# Evaluated by the base interpreter with no venv active: its own view of where things live.
BASE_CODE = """
import json, os, site, sys, sysconfig
paths = sysconfig.get_paths()
dynload = sysconfig.get_config_var("DESTSHARED") or os.path.join(paths["platstdlib"], "lib-dynload")
print(json.dumps({"stdlib": paths["stdlib"], "dynload": dynload, "site": site.getsitepackages()[0],
                  "prefix": sys.prefix, "version": sys.version.split()[0]}))
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: md.Distribution) -> list[str]:
    """Names of the requirements that apply here; a marker naming an extra is skipped."""
    names = []
    for line in dist.requires or []:
        try:
            from packaging.requirements import Requirement
        except ImportError:  # without packaging: keep everything that is not tied to an extra
            if "extra" not in line.partition(";")[2]:
                names.append(re.split(r"[\s\[<>=!~;(]", line.strip(), maxsplit=1)[0])
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            names.append(req.name)
    return names


def _closure(root: str) -> list[md.Distribution]:
    seen: dict[str, md.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if _norm(name) in seen:
            continue
        dist = md.distribution(name)
        seen[_norm(name)] = dist
        todo.extend(_requirements(dist))
    return [seen[k] for k in sorted(seen)]


def _files(dist: md.Distribution) -> list[list[str]]:
    """[source, path relative to site-packages] of the dist's files (RECORD) plus their bytecode."""
    if dist.files is None:
        raise SystemExit(f"{dist.metadata['Name']}: no RECORD, cannot list its files")
    out: dict[str, str] = {}
    for f in dist.files:
        rel = f.as_posix()
        if rel.startswith("../") or "/../" in rel or rel.startswith("/"):
            continue  # console scripts and data outside site-packages
        src = Path(str(dist.locate_file(f)))
        if not src.is_file():
            continue
        out[rel] = str(src)
        if rel.endswith(".py"):
            pyc = Path(importlib.util.cache_from_source(str(src)))
            if pyc.is_file():
                out[str(Path(rel).parent / "__pycache__" / pyc.name)] = str(pyc)
    return [[out[rel], rel] for rel in sorted(out)]


def main() -> dict[str, Any]:
    base_exe = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    base = json.loads(subprocess.run([base_exe, "-I", "-c", BASE_CODE], capture_output=True, text=True,
                                     check=True).stdout)
    dists = _closure(ROOT)
    return {
        "executable": base_exe, "base_prefix": sys.base_prefix, "venv_prefix": sys.prefix, **base,
        "locust_version": md.version(ROOT),
        "dists": [{"name": d.metadata["Name"], "version": d.version, "files": _files(d)} for d in dists],
    }


if __name__ == "__main__":
    try:
        result = main()
    except md.PackageNotFoundError as exc:
        raise SystemExit(f"package not installed: {exc}") from None
    print(json.dumps(result))
