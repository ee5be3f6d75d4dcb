"""Request records on their way to ``requests.parquet``, in fixed memory whatever the run's length.

The collector appends each batch as it arrives; rows are held only until a row group is full
(``row_group_rows``), then written, so the run holds at most one row group plus one batch of requests. The
file is written under a temporary name and renamed when the run ends (the run directory's rule: every file
appears whole). It is the one table the engine reads back: the analysis gets it as a frame afterwards
(``StoredRequests.frame``), and nothing else keeps the rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from chaoskit.analysis.frames import row_chunks
from chaoskit.analysis.stored import StoredTable
from chaoskit.load.records import OUTCOME_LABELS, STORED_COLUMNS

ROW_GROUP_ROWS: Final = 65_536
"""Rows held before they are written as one row group (~2 MiB): big enough for fast reads."""


def _category() -> pa.DataType:
    return pa.dictionary(pa.int16(), pa.string())


SCHEMA: Final = pa.schema([
    ("scheduled_ns", pa.int64()), ("start_ns", pa.int64()), ("latency_ns", pa.int64()),
    ("service", _category()), ("service_type", _category()), ("outcome", _category()),
    ("status", pa.int16()), ("ok", pa.bool_()), ("target", _category()), ("worker", _category()),
])
"""requests.parquet's columns (``chaoskit.load.records`` documents them); category codes are int16 in every
batch so batches from different agents share one schema."""
assert tuple(SCHEMA.names) == STORED_COLUMNS


@dataclass(frozen=True)
class StoredRequests:
    """The requests table of a run, on disk: one row per scheduled request (``records.STORED_COLUMNS``)."""

    path: Path
    rows: int

    @classmethod
    def at(cls, path: Path) -> StoredRequests:
        """A saved run's requests table (the row count from the parquet footer: no row is read)."""
        return cls(path, pq.read_metadata(path).num_rows)

    def table(self) -> StoredTable:
        """The table as the analysis reads it: in passes, row group by row group (analysis/stored.py)."""
        return StoredTable(self.path)

    def frame(self) -> pd.DataFrame:
        """The whole table as a frame (categorical columns stay categorical): the analysis's input. Columns the
        file lacks (runs saved before ``target`` or ``worker`` existed) are left out, as a plain read would.

        Read one row group at a time into arrays of the final length, so reading costs the frame plus one row
        group (reading the whole table and converting it held about three times the frame at once).
        """
        file = pq.ParquetFile(self.path)
        rows = file.metadata.num_rows
        present = [f for f in SCHEMA if f.name in file.schema_arrow.names]  # older runs lack target, worker
        plain = {f.name: np.empty(rows, dtype=f.type.to_pandas_dtype()) for f in present
                 if not pa.types.is_dictionary(f.type)}
        coded = {f.name: _Codes(rows) for f in present if pa.types.is_dictionary(f.type)}
        at = 0
        for group in range(file.num_row_groups):
            table = file.read_row_group(group)
            n = table.num_rows
            for name, values in plain.items():
                values[at:at + n] = table.column(name).to_numpy()
            for name, codes in coded.items():
                column = table.column(name)
                codes.fill(at, column if pa.types.is_dictionary(column.type) else column.dictionary_encode())
            at += n
            del table
        # Arrow's allocator keeps the row groups' decoded pages for reuse; nothing more is read, so return them.
        pa.default_memory_pool().release_unused()
        columns: dict[str, Any] = {**plain, **{
            name: coded.pop(name).categorical(OUTCOME_LABELS if name == "outcome" else ()) for name in list(coded)}}
        return pd.DataFrame({name: columns[name] for name in STORED_COLUMNS if name in columns}, copy=False)


class _Codes:
    """A dictionary column read row group by row group into one code array over the union of its labels.

    One byte a request while there are at most 127 labels (what pandas keeps for such a categorical, so it
    takes the array as it is); two once there are more."""

    def __init__(self, rows: int) -> None:
        self.codes: npt.NDArray[np.signedinteger[Any]] = np.empty(rows, dtype=np.int8)
        self.labels: dict[str, int] = {}

    def fill(self, at: int, column: pa.ChunkedArray) -> None:
        for chunk in column.chunks:
            lut = np.array([self.labels.setdefault(str(v), len(self.labels)) for v in chunk.dictionary.to_pylist()]
                           or [0], dtype=np.int16)
            if len(self.labels) > np.iinfo(np.int8).max and self.codes.dtype == np.int8:
                self.codes = self.codes.astype(np.int16)
            found = lut[chunk.indices.fill_null(0).to_numpy(zero_copy_only=False)]
            found[chunk.is_null().to_numpy(zero_copy_only=False)] = -1  # a missing value: pandas' -1 code
            self.codes[at:at + len(chunk)] = found
            at += len(chunk)

    def categorical(self, order: Sequence[str] = ()) -> pd.Categorical[Any]:
        """Categories in ``order`` (outcome: the wire codes' order), else sorted, as the agents' frames have them."""
        categories = [*order, *sorted(set(self.labels) - set(order))] if order else sorted(self.labels)
        position = {label: i for i, label in enumerate(categories)}
        lut = np.array([position[label] for label in self.labels] or [0], dtype=self.codes.dtype)
        for chunk in row_chunks(len(self.codes)):  # in place: no second code array; -1 (missing) stays
            part = self.codes[chunk]
            part[...] = np.where(part >= 0, lut[part], -1)
        return pd.Categorical.from_codes(self.codes, categories=pd.Index(categories))


class RequestSpool:
    """Appends request batches to a parquet file as row groups; ``held``/``max_held`` account the rows in memory."""

    def __init__(self, path: Path, *, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.path = path
        self.row_group_rows = row_group_rows
        self.rows = 0
        """Rows appended so far."""
        self.held = 0
        """Rows in memory now (appended, not yet written)."""
        self.max_held = 0
        """The most rows ever held at once: stays below row_group_rows + one batch."""
        self._partial = path.with_name(f".{path.name}.partial")
        self._batches: list[pa.Table] = []
        self._writer: pq.ParquetWriter | None = None
        self._finished: StoredRequests | None = None

    def append(self, frame: pd.DataFrame) -> None:
        if self._finished is not None:
            raise RuntimeError("requests appended after the spool was finished")
        if not len(frame):
            return
        self._batches.append(pa.Table.from_pandas(frame[list(STORED_COLUMNS)], schema=SCHEMA, preserve_index=False))
        self.rows += len(frame)
        self.held += len(frame)
        self.max_held = max(self.max_held, self.held)
        if self.held >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._batches:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._partial, SCHEMA)
        self._writer.write_table(pa.concat_tables(self._batches), row_group_size=max(self.held, 1))
        self._batches, self.held = [], 0

    def finish(self) -> StoredRequests:
        """Write what is held, close the file and give it its name; idempotent."""
        if self._finished is None:
            self._flush()
            if self._writer is None:  # nothing was recorded: still a table, with every column
                self._writer = pq.ParquetWriter(self._partial, SCHEMA)
            self._writer.close()
            os.replace(self._partial, self.path)
            self._finished = StoredRequests(self.path, self.rows)
        return self._finished

    def discard(self) -> None:
        """Drop a spool that will never be finished (its partial file with it)."""
        if self._writer is not None:
            self._writer.close()
        self._batches, self.held = [], 0
        self._partial.unlink(missing_ok=True)
