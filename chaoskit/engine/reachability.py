"""Before load starts: every load target must answer, so the baseline measures the service, not its start-up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from chaoskit.cluster.protocol import ClusterError
from chaoskit.load.plan import LoadTarget

CONSECUTIVE_OK = 3
"""A target counts as reachable after this many successive answers (the data path may still be syncing)."""


async def answers(target: LoadTarget, *, timeout_s: float = 1.0) -> bool:
    """One GET on a new connection; True for a 2xx/3xx answer."""
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(target.host, target.port)
            writer.write(f"GET {target.path} HTTP/1.1\r\nHost: {target.host}\r\nConnection: close\r\n\r\n".encode())
            status = (await reader.readline()).split()
        return len(status) >= 2 and status[1][:1] in (b"2", b"3")
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()


async def wait_reachable(targets: Sequence[LoadTarget], *, timeout_s: float) -> None:
    """Poll each target (bounded) until it answers CONSECUTIVE_OK times in a row."""
    deadline = time.monotonic() + timeout_s
    for target in targets:
        streak = 0
        while streak < CONSECUTIVE_OK:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{target.service_type} {target.service} at {target.host}:{target.port} does not answer "
                    f"{target.path} after {timeout_s:g}s", hint=_hint(target))
            streak = streak + 1 if await answers(target) else 0
            if streak < CONSECUTIVE_OK:
                await asyncio.sleep(0.05)


def _hint(target: LoadTarget) -> str:
    if target.service_type == "ClusterIP":
        return ("a ClusterIP is reachable only from a node or a pod: load it from an in-cluster Job "
                "(--load-from in-cluster, or auto), run chaoskit on a node, or load only NodePort")
    return "check that the Service selects the ready pods and that this host can reach the address"
