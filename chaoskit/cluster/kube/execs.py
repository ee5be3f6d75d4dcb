"""Run a command in a container through the exec API (websocket) and read its exit status.

Used by markers (data checks) and by the container-kill fault. Blocking; call it in a worker thread.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

from chaoskit.cluster.kube.api import KubeApi
from chaoskit.cluster.protocol import ClusterError

ERROR_CHANNEL = 3
NO_SHELL_SIGNS = ("executable file not found", "no such file or directory", "not found in $path")


class NoShellError(ClusterError):
    """The container has no shell (or no such binary): exec-based checks cannot run there."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int | None
    """None when the command never ran (the error channel says why, in ``error``)."""
    stdout: str
    stderr: str
    error: str = ""


def parse_exec_status(text: str) -> tuple[int | None, str]:
    """(exit code, message) from the exec error channel (a metav1.Status in JSON)."""
    if not text.strip():
        return None, "exec stream closed without a status"
    try:
        status: Any = json.loads(text)
    except ValueError:
        return None, text.strip()
    if status.get("status") == "Success":
        return 0, ""
    message = str(status.get("message", ""))
    if status.get("reason") == "NonZeroExitCode":
        for cause in status.get("details", {}).get("causes", []):
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message", "1")), message
    return None, message


def run_exec(api: KubeApi, namespace: str, pod: str, container: str, command: list[str], *,
             timeout_s: float, read_only: bool = False) -> ExecResult:
    """Run ``command`` (no shell unless the command is one) and wait for its status, bounded.

    In dry-run mode the command is only planned, unless the caller vouches that it is ``read_only``."""
    wsc: Any = importlib.import_module("kubernetes.stream.ws_client")

    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/exec"
    if api.dry_run and not read_only:
        api.plan("exec", path, f"container={container} command={command}")
        return ExecResult(0, "", "")
    query = [("command", c) for c in command] + [
        ("container", container), ("stdout", "true"), ("stderr", "true"), ("stdin", "false"),
    ]
    url, headers = api._serialize("GET", path, query, {})
    try:
        ws = wsc.WSClient(api.configuration, wsc.get_websocket_url(url), headers, capture_all=False)
    except Exception as exc:  # websocket-client raises handshake errors of several types
        raise _handshake_error(exc, path) from exc
    try:
        ws.run_forever(timeout=timeout_s)
        if ws.is_open():
            raise ClusterError(f"exec in {namespace}/{pod}/{container} did not finish in {timeout_s}s")
        code, message = parse_exec_status(ws.read_channel(ERROR_CHANNEL))
        return ExecResult(code, ws.read_channel(wsc.STDOUT_CHANNEL), ws.read_channel(wsc.STDERR_CHANNEL),
                          message)
    finally:
        ws.close()
        if ws.sock is not None:  # close() skips the socket when the server closed first
            ws.sock.shutdown()


def _handshake_error(exc: Exception, path: str) -> ClusterError:
    text = str(exc)
    if "403" in text:
        return ClusterError(f"exec {path}: forbidden ({text})",
                            hint="the role needs create on pods/exec (docs/rbac.md)")
    if "404" in text:
        from chaoskit.cluster.protocol import NotFoundError

        return NotFoundError(f"exec {path}: not found ({text})")
    return ClusterError(f"exec {path}: {text}")


def check_ran(result: ExecResult, *, what: str) -> ExecResult:
    """Turn 'the command never ran' into a typed error; a clear one when there is no shell."""
    if result.exit_code is not None:
        return result
    lowered = result.error.lower()
    if any(sign in lowered for sign in NO_SHELL_SIGNS):
        raise NoShellError(
            f"{what}: the container has no /bin/sh ({result.error})",
            hint="data checks exec a shell in the container; use an image with /bin/sh "
            "(e.g. add a busybox sidecar mounting the same volumes and name it as the check container)",
        )
    raise ClusterError(f"{what}: exec failed: {result.error}")
