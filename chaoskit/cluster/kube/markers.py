"""Data-survival markers through the exec API: write/read a file in a directory of a mounted volume.

The commands run ``/bin/sh -c`` with the paths as positional arguments (never spliced into the script), so
odd names cannot inject shell. A container without a shell gets a NoShellError with a hint.
"""

from __future__ import annotations

import re

from chaoskit.cluster.kube.api import KubeApi
from chaoskit.cluster.kube.execs import NoShellError, check_ran, run_exec
from chaoskit.cluster.protocol import ClusterError, MarkerUnsupportedError, NotFoundError

NOT_A_DIRECTORY = 3
NOT_WRITABLE = 4

WRITE_SCRIPT = '[ -d "$1" ] || exit 3; [ -w "$1" ] || exit 4; printf "%s\\n" "$2" > "$1/$2" && sync'
READ_SCRIPT = '[ -d "$1" ] || exit 3; [ -f "$1/$2" ]'
REMOVE_SCRIPT = '[ -d "$1" ] || exit 3; rm -f -- "$1/$2"'
# Markers of one run (or of every run), hidden (.chaoskit-marker-) or not (older runs), at a mount root or up to
# two directories below it (data[].path). The run id is quoted wherever it meets a pattern (find's -name only
# narrows; the case pattern decides); without `find` (a minimal image) only the mount roots are looked at.
FIND_SCRIPT = ('p=$1; rm=$2; shift 2; for d in "$@"; do if command -v find >/dev/null 2>&1; then '
               'find "$d" -maxdepth 3 -type f -name "*chaoskit-marker-$p*" 2>/dev/null; else '
               'for f in "$d"/.chaoskit-marker-"$p"* "$d"/chaoskit-marker-"$p"*; do '
               '[ -f "$f" ] && printf "%s\\n" "$f"; done; fi; done | while IFS= read -r f; do '
               'case "${f##*/}" in .chaoskit-marker-"$p"*|chaoskit-marker-"$p"*) ;; *) continue;; esac; '
               '[ "$rm" = 1 ] && rm -f -- "$f"; printf "%s\\n" "$f"; done')


def check_marker_name(marker: str) -> None:
    if not marker or "/" in marker or marker in (".", ".."):
        raise ClusterError(f"bad marker name {marker!r}: must be a plain file name")


def write_marker(api: KubeApi, namespace: str, pod: str, container: str, *, mount_path: str,
                 marker: str, timeout_s: float) -> None:
    """Write the marker; MarkerUnsupportedError when the container cannot hold it (no shell, a directory that
    is missing or not writable): that check cannot run there."""
    check_marker_name(marker)
    what = f"write marker {marker} in {namespace}/{pod}/{container}:{mount_path}"
    try:
        result = check_ran(run_exec(api, namespace, pod, container,
                                    ["sh", "-c", WRITE_SCRIPT, "chaoskit-marker", mount_path, marker],
                                    timeout_s=timeout_s), what=what)
    except NoShellError as exc:
        raise MarkerUnsupportedError(str(exc), reason=f"no shell in container {container}", hint=exc.hint) from None
    if result.exit_code == NOT_A_DIRECTORY:
        raise MarkerUnsupportedError(f"{what}: {mount_path} is not a directory in the container",
                                     reason=f"{mount_path} is not a directory in container {container}",
                                     hint="use the volume's mountPath, and a data[].path that exists in it")
    if result.exit_code == NOT_WRITABLE or (result.exit_code != 0 and "read-only" in result.stderr.lower()):
        raise MarkerUnsupportedError(f"{what}: {mount_path} is not writable ({result.stderr.strip()})",
                                     reason=f"{mount_path} is read-only for container {container}",
                                     hint="check another volume, or a container that mounts it writable")
    if result.exit_code != 0:
        raise MarkerUnsupportedError(f"{what}: exit {result.exit_code}: {result.stderr.strip()}",
                                     reason=f"cannot write in {mount_path} of container {container}: "
                                     f"{result.stderr.strip()[:120]}")


def read_marker(api: KubeApi, namespace: str, pod: str, container: str, *, mount_path: str,
                marker: str, timeout_s: float) -> bool:
    check_marker_name(marker)
    what = f"read marker {marker} in {namespace}/{pod}/{container}:{mount_path}"
    result = check_ran(run_exec(api, namespace, pod, container,
                                ["sh", "-c", READ_SCRIPT, "chaoskit-marker", mount_path, marker],
                                timeout_s=timeout_s), what=what)
    if result.exit_code == NOT_A_DIRECTORY:
        raise ClusterError(f"{what}: {mount_path} is not a directory in the container")
    if result.exit_code not in (0, 1):
        raise ClusterError(f"{what}: exit {result.exit_code}: {result.stderr.strip()}")
    return result.exit_code == 0


def remove_marker(api: KubeApi, namespace: str, pod: str, container: str, *, mount_path: str,
                  marker: str, timeout_s: float) -> None:
    check_marker_name(marker)
    what = f"remove marker {marker} in {namespace}/{pod}/{container}:{mount_path}"
    result = check_ran(run_exec(api, namespace, pod, container,
                                ["sh", "-c", REMOVE_SCRIPT, "chaoskit-marker", mount_path, marker],
                                timeout_s=timeout_s), what=what)
    if result.exit_code == NOT_A_DIRECTORY:
        raise NotFoundError(f"{what}: {mount_path} is not a directory in the container")
    if result.exit_code != 0:
        raise ClusterError(f"{what}: exit {result.exit_code}: {result.stderr.strip()}",
                           hint="is the volume mounted read-only?")


def find_markers(api: KubeApi, namespace: str, pod: str, container: str, *, mount_paths: list[str],
                 run_id: str, remove: bool, timeout_s: float) -> list[str]:
    """Marker files (``chaoskit-marker-<run_id>*``; every run's when ``run_id`` is empty) in the volumes
    mounted at ``mount_paths``, as container paths; removed too when ``remove``. Runs even in dry-run mode:
    with ``remove`` False it changes nothing."""
    what = f"look for markers in {namespace}/{pod}/{container}"
    prefix = re.sub(r"[^A-Za-z0-9-]", "-", run_id)  # as the markers' names have it (chaoskit.checks.markers)
    command = ["sh", "-c", FIND_SCRIPT, "chaoskit-marker", prefix, "1" if remove else "0", *mount_paths]
    result = check_ran(run_exec(api, namespace, pod, container, command, timeout_s=timeout_s,
                                read_only=not remove), what=what)
    if result.exit_code != 0:
        raise ClusterError(f"{what}: exit {result.exit_code}: {result.stderr.strip()}")
    return [line for line in result.stdout.splitlines() if line.strip()]
