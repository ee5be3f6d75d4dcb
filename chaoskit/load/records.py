"""The request record: what the load agent measures for every request, and its compact wire form.

Wire form (little endian, 24 bytes): scheduled start ns (int64), actual start ns (int64),
latency µs (uint32), service index (uint8), outcome code (uint8), HTTP status (uint16; 0 when none).
The agent writes records in batches to a pipe; ``chaoskit.load.decode.decode`` turns a buffer into
columns. This module stays stdlib-only: the agent process (gevent) imports it.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

RECORD: Final = struct.Struct("<qqIBBH")


class Outcome(enum.IntEnum):
    """How one request ended. Only OK counts as available.

    OK means the answer's status is in the service's ``success`` set (default 2xx and 3xx), or in tcp mode
    that the connection opened (and the reply started with ``expect`` when one is given).
    """

    OK = 0
    HTTP_5XX = 1
    HTTP_4XX = 2
    REFUSED = 3
    RESET = 4
    TIMEOUT = 5
    CONNECT_TIMEOUT = 6
    ERROR = 7
    AGENT_SATURATED = 8
    """The agent could not start the request on time (in-flight cap reached): a load-side failure."""
    # Appended, never renumbered: saved runs keep the codes they were written with.
    HTTP_OTHER = 9
    """An answer outside ``success`` that is neither 4xx nor 5xx (e.g. a redirect when only 2xx counts)."""
    TCP_UNEXPECTED_REPLY = 10
    """tcp mode: connected, but the reply did not start with ``expect`` (or ended before it)."""
    TLS_ERROR = 11
    """The TLS handshake failed (certificate not trusted, name mismatch, protocol error)."""

    @property
    def label(self) -> str:
        return self.name.lower()


OUTCOME_LABELS: Final = tuple(o.label for o in Outcome)

# requests.parquet columns (one row per request):
#   scheduled_ns int64  when the constant-arrival schedule wanted the request to start (wall clock)
#   start_ns     int64  when it actually started (wall clock); start_ns - scheduled_ns = agent lag
#   latency_ns   int64  start to last byte of the response, or to the failure
#   service      category  Service name
#   service_type category  ClusterIP | NodePort | Headless | LoadBalancer
#   outcome      category  one of OUTCOME_LABELS
#   status       int16  HTTP status, 0 when no response
#   ok           bool   outcome == ok
#   target       category  the address (host:port, plus " (node)" for a NodePort)
#   worker       category  the agent process: "<local|in-cluster>/<share index>"
REQUEST_COLUMNS: Final = (
    "scheduled_ns", "start_ns", "latency_ns", "service", "service_type", "outcome", "status", "ok",
)
"""The columns the analysis requires."""
FRAME_COLUMNS: Final = (*REQUEST_COLUMNS, "target")
"""The request columns with the address: ``target`` (category) is ``host:port``, plus `` (node)`` for a
NodePort; optional for the analysis (older runs lack it)."""
STORED_COLUMNS: Final = (*FRAME_COLUMNS, "worker")
"""What the agents produce and requests.parquet holds: ``worker`` (category) is the agent process that made
the request (``local/0``, ``in-cluster/1``...), for the load's own health; the analysis does not need it."""
