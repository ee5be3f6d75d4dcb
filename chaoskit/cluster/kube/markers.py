"""Data-survival markers through the exec API: write/read a file in the volume mounted at a path.

The commands run ``/bin/sh -c`` with the paths as positional arguments (never spliced into the script), so
odd names cannot inject shell. A container without a shell gets a NoShellError with a hint.
"""

from __future__ import annotations

from chaoskit.cluster.kube.api import KubeApi
from chaoskit.cluster.kube.execs import check_ran, run_exec
from chaoskit.cluster.protocol import ClusterError

NOT_A_DIRECTORY = 3

WRITE_SCRIPT = '[ -d "$1" ] || exit 3; printf "%s\\n" "$2" > "$1/$2" && sync'
READ_SCRIPT = '[ -d "$1" ] || exit 3; [ -f "$1/$2" ]'


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
