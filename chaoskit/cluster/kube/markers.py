"""Data-survival markers through the exec API: write/read a file in the volume mounted at a path.

The commands run ``/bin/sh -c`` with the paths as positional arguments (never spliced into the script), so
odd names cannot inject shell. A container without a shell gets a NoShellError with a hint.
"""

from __future__ import annotations

from chaoskit.cluster.kube.api import KubeApi
from chaoskit.cluster.kube.execs import check_ran, run_exec
from chaoskit.cluster.protocol import ClusterError, NotFoundError

NOT_A_DIRECTORY = 3

WRITE_SCRIPT = '[ -d "$1" ] || exit 3; printf "%s\\n" "$2" > "$1/$2" && sync'
READ_SCRIPT = '[ -d "$1" ] || exit 3; [ -f "$1/$2" ]'
REMOVE_SCRIPT = '[ -d "$1" ] || exit 3; rm -f -- "$1/$2"'
# Markers of one run (or of every run): the prefix is a positional argument, quoted, with only the * unquoted.
FIND_SCRIPT = ('p=$1; rm=$2; shift 2; for d in "$@"; do for f in "$d"/chaoskit-marker-"$p"*; do '
               '[ -f "$f" ] || continue; [ "$rm" = 1 ] && rm -f -- "$f"; printf "%s\\n" "$f"; done; done')


def check_marker_name(marker: str) -> None:
    if not marker or "/" in marker or marker in (".", ".."):
        raise ClusterError(f"bad marker name {marker!r}: must be a plain file name")


def write_marker(api: KubeApi, namespace: str, pod: str, container: str, *, mount_path: str,
                 marker: str, timeout_s: float) -> None:
    check_marker_name(marker)
    what = f"write marker {marker} in {namespace}/{pod}/{container}:{mount_path}"
    result = check_ran(run_exec(api, namespace, pod, container,
                                ["sh", "-c", WRITE_SCRIPT, "chaoskit-marker", mount_path, marker],
                                timeout_s=timeout_s), what=what)
    if result.exit_code == NOT_A_DIRECTORY:
        raise ClusterError(f"{what}: {mount_path} is not a directory in the container",
                           hint="use the volume's mountPath from the pod spec")
    if result.exit_code != 0:
        raise ClusterError(f"{what}: exit {result.exit_code}: {result.stderr.strip()}",
                           hint="is the volume mounted read-only, or the container running as a user "
                           "who cannot write there?")


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
    command = ["sh", "-c", FIND_SCRIPT, "chaoskit-marker", run_id, "1" if remove else "0", *mount_paths]
    result = check_ran(run_exec(api, namespace, pod, container, command, timeout_s=timeout_s,
                                read_only=not remove), what=what)
    if result.exit_code != 0:
        raise ClusterError(f"{what}: exit {result.exit_code}: {result.stderr.strip()}")
    return [line for line in result.stdout.splitlines() if line.strip()]
