"""Decoding the agent's record stream into request columns (numpy, no Python loop per record)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from chaoskit.load.plan import LoadPlan
from chaoskit.load.records import OUTCOME_LABELS, RECORD, STORED_COLUMNS

RECORD_DTYPE: Final = np.dtype([
    ("scheduled_ns", "<i8"), ("start_ns", "<i8"), ("latency_us", "<u4"),
    ("service", "u1"), ("outcome", "u1"), ("status", "<u2"),
])
assert RECORD_DTYPE.itemsize == RECORD.size


class DecodeError(ValueError):
    """The record stream is corrupt (length not a whole number of records, or an unknown index)."""


def records_array(buf: bytes | bytearray | memoryview) -> np.ndarray:
    """Whole records from ``buf`` as a structured array (a copy, so the buffer can be reused)."""
    if len(buf) % RECORD.size:
        raise DecodeError(f"{len(buf)} bytes is not a whole number of {RECORD.size}-byte records")
    return np.frombuffer(buf, dtype=RECORD_DTYPE).copy()


def to_frame(arr: np.ndarray, plan: LoadPlan, *, worker: str = "local/0",
             workers: Sequence[str] = (), worker_codes: np.ndarray | None = None) -> pd.DataFrame:
    """Structured records -> the requests.parquet columns (``records.STORED_COLUMNS``); every row is labelled
    with the worker that made it: ``worker``, or ``workers[worker_codes[i]]`` for records of several workers."""
    n_targets = len(plan.targets)
    if len(arr) and int(arr["service"].max()) >= n_targets:
        raise DecodeError(f"record names target {int(arr['service'].max())}; plan has {n_targets}")
    if len(arr) and int(arr["outcome"].max()) >= len(OUTCOME_LABELS):
        raise DecodeError(f"unknown outcome code {int(arr['outcome'].max())}")
    idx = arr["service"].astype(np.intp)
    labels = list(workers) or [worker]
    codes = worker_codes if worker_codes is not None else np.zeros(len(arr), dtype=np.int16)
    cols = {
        "scheduled_ns": arr["scheduled_ns"].astype(np.int64),
        "start_ns": arr["start_ns"].astype(np.int64),
        "latency_ns": arr["latency_us"].astype(np.int64) * 1000,
        "service": _categorical(idx, [t.service for t in plan.targets]),
        "service_type": _categorical(idx, [t.service_type for t in plan.targets]),
        "outcome": pd.Categorical.from_codes(arr["outcome"].astype(np.int8),
                                             categories=pd.Index(list(OUTCOME_LABELS))),
        "status": arr["status"].astype(np.int16),
        "ok": arr["outcome"] == 0,
        "target": _categorical(idx, [t.label for t in plan.targets]),
        "worker": _categorical(codes.astype(np.intp), labels),
    }
    frame = pd.DataFrame(cols)
    return frame[list(STORED_COLUMNS)]


def concat_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate record frames whose categories may differ (several agents, several plans), keeping the
    categorical columns categorical over the union of their categories (codes remapped, no object detour)."""
    if len(frames) == 1:
        return frames[0]
    columns: dict[str, Any] = {}
    for column in frames[0].columns:
        parts = [f[column] for f in frames]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            merged = union_categoricals([p.array for p in parts])
            if column == "outcome":
                merged = merged.set_categories(list(OUTCOME_LABELS))
            columns[column] = merged
        else:
            columns[column] = np.concatenate([p.to_numpy() for p in parts])
    return pd.DataFrame(columns)


def decode(buf: bytes | bytearray | memoryview, plan: LoadPlan, *, worker: str = "local/0") -> pd.DataFrame:
    """A buffer of whole wire records -> one row per request, columns as documented in records.py."""
    return to_frame(records_array(buf), plan, worker=worker)


def empty_frame(plan: LoadPlan) -> pd.DataFrame:
    return to_frame(np.empty(0, dtype=RECORD_DTYPE), plan)


def no_records() -> pd.DataFrame:
    """An empty requests table with every column and its dtype, when no plan is at hand."""
    return pd.DataFrame({c: pd.Series(dtype=_empty_dtype(c)) for c in STORED_COLUMNS})


def _empty_dtype(column: str) -> str:
    if column.endswith("_ns"):
        return "int64"
    return {"status": "int16", "ok": "bool"}.get(column, "category")


def _categorical(target_idx: np.ndarray, per_target: list[str]) -> pd.Categorical[str]:
    # Several targets may share a name (one Service through ClusterIP and NodePort): map index -> code.
    categories = sorted(set(per_target))
    lut = np.array([categories.index(v) for v in per_target], dtype=np.int16)
    codes: np.ndarray[tuple[int], np.dtype[np.int16]] = lut[target_idx]
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories))
