"""How chaoskit tells an agent process what it is: the environment variables both sides read (stdlib only,
so the agent process, the in-cluster wrapper and chaoskit share one list)."""

from __future__ import annotations

from typing import Final

ROLE: Final = "CHAOSKIT_LOAD_ROLE"
"""``single`` (the whole plan in one process), ``master`` or ``worker`` (Locust's distributed mode)."""
PLAN: Final = "CHAOSKIT_LOAD_PLAN"
PLAN_FD: Final = "CHAOSKIT_LOAD_PLAN_FD"
PLAN_FILE: Final = "CHAOSKIT_LOAD_PLAN_FILE"
RECORDS_FD: Final = "CHAOSKIT_LOAD_RECORDS_FD"
CONTROL_FD: Final = "CHAOSKIT_LOAD_CONTROL_FD"
PARENT_PID: Final = "CHAOSKIT_LOAD_PARENT_PID"
MASTER_HOST: Final = "CHAOSKIT_LOAD_MASTER_HOST"
MASTER_PORT: Final = "CHAOSKIT_LOAD_MASTER_PORT"
MASTER_BIND: Final = "CHAOSKIT_LOAD_MASTER_BIND"
"""``host:port`` the master listens on (port 0: any free port, announced in its ``listening`` message)."""
SAME_CLOCK: Final = "CHAOSKIT_LOAD_SAME_CLOCK"
"""``1``: the workers run on the master's host and clock (offsets measured and reported, not applied)."""
START_TIMEOUT: Final = "CHAOSKIT_LOAD_START_TIMEOUT_S"
"""How long the master waits for its workers, and a worker for its start message."""
MASTER_PORT_DEFAULT: Final = 5557
"""Locust's own default, used by the in-cluster master."""
