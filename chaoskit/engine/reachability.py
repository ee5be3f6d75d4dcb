"""Before load starts: every load target must answer, so the baseline measures the service, not its start-up.

An address that answers with an HTTP error status (404 on a wrong ``load.path``, 401, 500 ...) is not
starting up: it says at once that the experiment asks for something the service does not serve, so that is
bad input (``TargetAnswerError``, exit 2), not a wait until the timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from chaoskit.cluster.protocol import ClusterError
from chaoskit.load.plan import LoadTarget

CONSECUTIVE_OK = 3
"""A target counts as reachable after this many successive answers (the data path may still be syncing)."""
CONSECUTIVE_REFUSALS = 3
"""The same error status this many times in a row is the service's answer, not a hiccup of its start-up."""


class TargetAnswerError(ClusterError):
    """A load target answers, with an HTTP error status (bad input: exit 2)."""


async def answers(target: LoadTarget, *, timeout_s: float = 1.0) -> bool:
    """One GET on a new connection; True for a 2xx/3xx answer."""
    status = await status_of(target, timeout_s=timeout_s)
    return status is not None and 200 <= status < 400


async def status_of(target: LoadTarget, *, timeout_s: float = 1.0) -> int | None:
    """The HTTP status of one GET on a new connection; None when there is no HTTP answer."""
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(target.host, target.port)
            writer.write(f"GET {target.path} HTTP/1.1\r\nHost: {target.host}\r\nConnection: close\r\n\r\n".encode())
            line = (await reader.readline()).split()
        if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
            return int(line[1])
        return None
    except (OSError, TimeoutError, ValueError):  # ValueError: a status line longer than the stream limit
        return None
    finally:
        if writer is not None:
            writer.close()


async def wait_reachable(targets: Sequence[LoadTarget], *, timeout_s: float) -> None:
    """Poll each target (bounded) until it answers CONSECUTIVE_OK times in a row."""
    deadline = time.monotonic() + timeout_s
    for target in targets:
        streak, refusals, last = 0, 0, None
        while streak < CONSECUTIVE_OK:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{target.service_type} {target.service} at {target.host}:{target.port} does not answer "
                    f"{target.path} after {timeout_s:g}s", hint=_hint(target))
            status = await status_of(target)
            ok = status is not None and 200 <= status < 400
            streak = streak + 1 if ok else 0
            # Count the same error status in a row; an answer that is no error status resets it.
            refusals = 0 if ok or status is None else (refusals + 1 if status == last else 1)
            last = status
            if refusals >= CONSECUTIVE_REFUSALS:
                raise TargetAnswerError(
                    f"{target.service_type} {target.service} at {target.host}:{target.port} answers {status} "
                    f"on {target.path}", hint=_status_hint(status or 0))
            if streak < CONSECUTIVE_OK:
                await asyncio.sleep(0.05)


def _status_hint(status: int) -> str:
    if status == 404:
        return "load.path names a page the service does not serve: use one it answers with 2xx (e.g. /)"
    if status in (401, 403, 407):
        return "the service wants credentials; load a path that answers without them (e.g. a health endpoint)"
    if status >= 500:
        return "the service's Ready pods fail this path: check its logs, or load a path that answers 2xx"
    return "load a path the service answers with 2xx or 3xx (load.path)"


def _hint(target: LoadTarget) -> str:
    if target.service_type == "ClusterIP":
        return ("a ClusterIP is reachable only from a node or a pod: load it from an in-cluster Job "
                "(--load-from in-cluster, or auto), run chaoskit on a node, or load only NodePort")
    return "check that the Service selects the ready pods and that this host can reach the address"
