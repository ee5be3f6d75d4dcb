"""What every load agent kind does with a worker's record stream, written once: decode whole records as bytes
arrive (kept only until taken), put them on the run's clock, label them with their worker, and count them
and their start lags in fixed memory for the report; and wait until a state change makes a condition true."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from chaoskit.load import lags
from chaoskit.load.decode import RECORD_DTYPE, no_records, records_array, to_frame
from chaoskit.load.plan import WHOLE, LoadPlan, Share
from chaoskit.load.records import RECORD
from chaoskit.load.report import LagStats, WorkerTally


class LagCounts:
    """Start lags bucketed as ``chaoskit.load.lags`` does (numpy, one update per batch): fixed memory."""

    def __init__(self) -> None:
        self.counts = np.zeros(lags.BUCKETS, dtype=np.int64)
        self.count = 0
        self.late = 0
        self.max_ns = 0

    def add(self, lag_ns: np.ndarray) -> None:
        if not len(lag_ns):
            return
        us = np.maximum(lag_ns, 0) // 1000
        coarse = np.minimum(lags.FINE_BUCKETS + (us - lags.FINE_LIMIT_US) // lags.COARSE_US, lags.BUCKETS - 1)
        buckets = np.where(us < lags.FINE_LIMIT_US, us // lags.FINE_US, coarse)
        self.counts += np.bincount(buckets, minlength=lags.BUCKETS)
        self.count += len(lag_ns)
        self.late += int((lag_ns > lags.LATE_NS).sum())
        self.max_ns = max(self.max_ns, int(lag_ns.max()))

    def quantile_ns(self, q: float) -> int:
        if not self.count:
            return 0
        rank = lags.quantile_rank(self.count, q)
        return lags.upper_edge_ns(int(np.searchsorted(np.cumsum(self.counts), rank, side="right")))

    def stats(self) -> LagStats:
        return LagStats(late_starts=self.late, p50_ms=self.quantile_ns(0.5) / 1e6,
                        p99_ms=self.quantile_ns(0.99) / 1e6, max_ms=max(0, self.max_ns) / 1e6)


class RecordStream:
    """One worker's records, decoded from a growing byte buffer and kept until ``take``.

    ``offset_ns`` (the worker's clock minus the run's) is subtracted from both instants of every record;
    ``worker`` labels every row (the ``worker`` column).
    """

    def __init__(self, plan: LoadPlan, *, worker: str = "local/0", share: Share = WHOLE,
                 where: str = "") -> None:
        self.plan = plan
        self.tally = WorkerTally(worker=worker, share=share, where=where)
        self.offset_ns = 0
        self.lags = LagCounts()
        self._pending: list[np.ndarray] = []

    @property
    def received(self) -> int:
        return self.tally.recorded

    @property
    def pending(self) -> int:
        """Records decoded and not yet taken."""
        return sum(len(a) for a in self._pending)

    def decode_whole(self, buf: bytearray) -> None:
        """Move every whole record out of ``buf`` (a partial one stays for the next bytes)."""
        whole = len(buf) - len(buf) % RECORD.size
        if not whole:
            return
        arr = records_array(memoryview(buf)[:whole])
        del buf[:whole]
        if self.offset_ns:
            arr["scheduled_ns"] -= self.offset_ns
            arr["start_ns"] -= self.offset_ns
        self._pending.append(arr)
        self.lags.add(arr["start_ns"] - arr["scheduled_ns"])
        self.tally.recorded += len(arr)

    def take_array(self) -> np.ndarray:
        """Every record decoded since the last call, as the wire form's structured array."""
        arrays, self._pending = self._pending, []
        return np.concatenate(arrays) if arrays else np.empty(0, dtype=RECORD_DTYPE)

    def take(self) -> pd.DataFrame:
        """Every record decoded since the last call (columns as in ``records.STORED_COLUMNS``)."""
        return to_frame(self.take_array(), self.plan, worker=self.tally.worker)

    def final_tally(self) -> WorkerTally:
        self.tally.lag = self.lags.stats()
        return self.tally


def take_all(streams: Sequence[RecordStream], plan: LoadPlan) -> pd.DataFrame:
    """Every stream's new records as one frame: merged as arrays, labelled by a worker code, and turned into a
    frame once (a frame per worker and a concat would cost a pandas frame's fixed price per worker)."""
    if not streams:
        return no_records()
    arrays = [s.take_array() for s in streams]
    codes = np.concatenate([np.full(len(a), i, dtype=np.int16) for i, a in enumerate(arrays)])
    return to_frame(np.concatenate(arrays), plan, workers=[s.tally.worker for s in streams], worker_codes=codes)


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
