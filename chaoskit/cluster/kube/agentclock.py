"""The clock of an agent pod against this host's (the run's clock): NTP-style round trips over an exec session.

A tiny Python loop runs in the pod's container (the Locust image has Python) and answers each line on its stdin
with its own receive and send instants; this host stamps the send and the receipt. The round trip with the
least delay wins (as NTP picks its best sample): offset = ((t2 - t1) + (t3 - t4)) / 2 is the pod's clock minus
ours, known to within ± half that round trip. Blocking (websocket exec); call it in a worker thread.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any, Final

from chaoskit.cluster.kube.api import KubeApi
from chaoskit.cluster.protocol import ClusterError

SAMPLES: Final = 16
PROBE: Final = (
    "import sys, time\n"
    "for line in iter(sys.stdin.readline, ''):\n"
    "    t2 = time.time_ns()\n"
    "    sys.stdout.write(f'{t2} {time.time_ns()}\\n'); sys.stdout.flush()\n"
)


@dataclass(frozen=True, slots=True)
class ClockSample:
    """The pod's clock minus this host's: ``offset_ns`` ± ``delay_ns`` / 2."""

    offset_ns: int
    delay_ns: int


def best_sample(samples: list[tuple[int, int, int, int]]) -> ClockSample:
    """From (t1, t2, t3, t4) round trips: the one with the least delay."""
    if not samples:
        raise ClusterError("no clock sample: the probe never answered")
    computed = [ClockSample(((t2 - t1) + (t3 - t4)) // 2, (t4 - t1) - (t3 - t2)) for t1, t2, t3, t4 in samples]
    return min(computed, key=lambda s: s.delay_ns)


def measure(api: KubeApi, namespace: str, pod: str, *, container: str = "agent", samples: int = SAMPLES,
            timeout_s: float = 10.0) -> ClockSample:
    """Round trips to a probe in the pod's container, bounded by ``timeout_s`` in all."""
    wsc: Any = importlib.import_module("kubernetes.stream.ws_client")
    query = [("command", c) for c in ("python", "-u", "-c", PROBE)] + [
        ("container", container), ("stdin", "true"), ("stdout", "true"), ("stderr", "true")]
    url, headers = api._serialize("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/exec", query, {})
    try:
        ws = wsc.WSClient(api.configuration, wsc.get_websocket_url(url), headers, capture_all=False)
    except Exception as exc:  # websocket-client raises handshake errors of several types
        raise ClusterError(f"clock probe in pod {pod}: exec failed: {exc}",
                           hint="the role needs create on pods/exec (docs/rbac.md)") from exc
    taken: list[tuple[int, int, int, int]] = []
    deadline = time.monotonic() + timeout_s
    error = ""
    try:
        for _ in range(samples):
            t1 = time.time_ns()
            ws.write_stdin("p\n")
            line = ws.readline_stdout(timeout=max(0.1, deadline - time.monotonic()))
            t4 = time.time_ns()
            parts = str(line).split()
            if len(parts) != 2 or time.monotonic() > deadline:
                break
            taken.append((t1, int(parts[0]), int(parts[1]), t4))
        if not taken:
            error = str(ws.read_stderr(timeout=0))[:500]
    finally:
        ws.close()
        if ws.sock is not None:  # close() skips the socket when the server closed first
            ws.sock.shutdown()
    if not taken:
        raise ClusterError(f"clock probe in pod {pod}: no answer ({error!r})")
    return best_sample(taken)
