"""What every load agent kind does with its record stream and its state changes, written once: decode whole
records as bytes arrive (keeping them until taken, with their start lags for the report) and wait until a
state change makes a condition true."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from chaoskit.load.decode import RECORD_DTYPE, records_array, to_frame
from chaoskit.load.plan import LoadPlan
from chaoskit.load.records import RECORD


class RecordStream:
    """Whole records decoded from a growing byte buffer, kept until ``take``; lags and count for the report."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.lags: list[np.ndarray] = []
        """start - scheduled (ns) of every record decoded so far."""
        self.received = 0
        self._pending: list[np.ndarray] = []

    def decode_whole(self, buf: bytearray) -> None:
        """Move every whole record out of ``buf`` (a partial one stays for the next bytes)."""
        whole = len(buf) - len(buf) % RECORD.size
        if not whole:
            return
        arr = records_array(memoryview(buf)[:whole])
        del buf[:whole]
        self._pending.append(arr)
        self.lags.append(arr["start_ns"] - arr["scheduled_ns"])
        self.received += len(arr)

    def take(self) -> pd.DataFrame:
        """Every record decoded since the last call (columns as in ``records.FRAME_COLUMNS``)."""
        arrays, self._pending = self._pending, []
        merged = np.concatenate(arrays) if arrays else np.empty(0, dtype=RECORD_DTYPE)
        return to_frame(merged, self.plan)


async def until_changed(changed: asyncio.Event, condition: Callable[[], bool], timeout_s: float) -> bool:
    """Wait for ``changed`` to be set by a state change making ``condition()`` true; False on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), remaining)
    return True
