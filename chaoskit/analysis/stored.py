"""requests.parquet as the analysis's columns, read in passes: the table is never held whole.

:class:`StoredTable` reads the file twice, a row group at a time. The first pass (:attr:`StoredTable.scan`) finds
what the codes need: every label of the categorical columns, the (service type, address) pairs present, how many
requests were never sent. The second (:attr:`StoredTable.spill`) decodes each row group once into plain columns
(int64 clocks, one- or two-byte codes) appended to an unnamed scratch file beside requests.parquet: the sent
requests first, in their order, then the unsent ones. Each :class:`Columns` field is then a
:class:`SpilledColumn`: a slice of rows is one ``pread`` of contiguous bytes, and the address and phase codes are
derived from it. The analysis takes slices of at most :data:`frames.CHUNK_ROWS` rows (``frames.row_chunks``), so
a pass holds a chunk whatever the run's length, and re-reading costs a copy, not a parquet decode.

The scratch file has no name (``O_TMPFILE``): nothing is left behind, whatever ends the process. It sits on the
run directory's disk, not in memory (``/tmp`` may be a tmpfs).

The codes and labels are exactly those :func:`frames.prepare` gives for the same table read as a frame
(categories sorted; outcomes in the wire order first): the tests compare whole summaries and report.html pages.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from chaoskit.analysis.frames import (
    OUTSIDE,
    TARGET_COLUMN,
    AnalysisError,
    Columns,
    PhaseSpan,
    narrow,
    phase_codes,
)
from chaoskit.load.records import OUTCOME_LABELS, REQUEST_COLUMNS

NOT_SENT: Final = "agent_saturated"
"""The outcome of a scheduled request the load agent never sent."""
CODED: Final = ("service_type", "outcome", "service", TARGET_COLUMN)
CLOCKS: Final = ("scheduled_ns", "start_ns", "latency_ns")


@dataclass(frozen=True)
class Scan:
    """What the first pass over the file finds."""

    labels: dict[str, tuple[str, ...]]
    """Per categorical column, its labels in code order."""
    cells: dict[bool, tuple[tuple[int, int], ...]]
    """Per view (sent only, or every row): the (type code, target code + 1) pairs present, sorted; target code
    + 1 is 0 where the request has no target. The address codes index these."""
    sent: int
    rows: int


class StoredTable:
    """A saved requests.parquet, analysed in passes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = pq.ParquetFile(path)
        names = self.file.schema_arrow.names
        missing = [c for c in REQUEST_COLUMNS if c not in names]
        if missing:
            raise AnalysisError(f"requests table lacks columns {missing}; expected at least {list(REQUEST_COLUMNS)}")
        self.coded = tuple(c for c in CODED if c in names)

    @property
    def rows(self) -> int:
        return int(self.file.metadata.num_rows)

    @property
    def not_sent(self) -> int:
        return self.scan.rows - self.scan.sent

    @cached_property
    def scan(self) -> Scan:
        found: dict[str, set[str]] = {c: set() for c in self.coded}
        pairs: dict[bool, set[tuple[str, str | None]]] = {True: set(), False: set()}
        sent = 0
        for g in range(self.file.num_row_groups):
            table = self.file.read_row_group(g, columns=list(self.coded))
            local = {c: _local(table.column(c)) for c in self.coded}
            for c, (_, seen) in local.items():
                found[c].update(seen)
            outcome_codes, outcome_labels = local["outcome"]
            unsent = [i for i, label in enumerate(outcome_labels) if label == NOT_SENT]
            keep = outcome_codes != unsent[0] if unsent else np.ones(len(outcome_codes), dtype=np.bool_)
            pairs[True].update(_pairs(local, keep))
            pairs[False].update(_pairs(local, None))
            sent += int(keep.sum())
        labels = {c: _ordered(c, found[c]) for c in self.coded}
        return Scan(labels, {k: _cells(v, labels) for k, v in pairs.items()}, sent, self.rows)

    @cached_property
    def spill(self) -> Spill:
        return Spill.of(self)

    def close(self) -> None:
        """Free the scratch file now (it is freed anyway when the table is collected)."""
        if "spill" in self.__dict__:
            self.spill.close()

    def columns(self, phases: tuple[PhaseSpan, ...], *, sent_only: bool = True) -> Columns:
        """The analysis's columns over the sent requests (or every row), with phase codes for ``phases``."""
        labels = self.scan.labels
        types = labels["service_type"]
        view = View(self.spill, self.scan.sent if sent_only else self.scan.rows, phases, self._address_lut(sent_only))
        cells = self.scan.cells[sent_only]
        if TARGET_COLUMN in self.coded:
            addresses = tuple(labels[TARGET_COLUMN][t - 1] if t else types[ty] for ty, t in cells)
            address_type = np.array([ty for ty, _ in cells], dtype=np.int64)
        else:
            addresses, address_type = types, np.arange(len(types), dtype=np.int64)
        return Columns(
            type_code=SpilledColumn(view, "service_type"),
            types=types,
            phase_code=SpilledColumn(view, "phase_code"),
            phases=(*(p.name for p in phases), OUTSIDE),
            outcome_code=SpilledColumn(view, "outcome"),
            outcomes=labels["outcome"],
            ok=SpilledColumn(view, "ok"),
            scheduled_ns=SpilledColumn(view, "scheduled_ns"),
            start_ns=SpilledColumn(view, "start_ns"),
            latency_ns=SpilledColumn(view, "latency_ns"),
            address_code=SpilledColumn(view, "address_code"),
            addresses=addresses,
            address_type=address_type,
            service_code=SpilledColumn(view, "service"),
            services=labels["service"],
        )

    def _address_lut(self, sent_only: bool) -> npt.NDArray[Any] | None:
        """(type code * width + target code + 1) to address code, width = targets + 1; None without targets."""
        if TARGET_COLUMN not in self.coded:
            return None
        cells = self.scan.cells[sent_only]
        width = len(self.scan.labels[TARGET_COLUMN]) + 1
        lut = np.full(len(self.scan.labels["service_type"]) * width, -1, dtype=np.int64)
        for i, (ty, t) in enumerate(cells):
            lut[ty * width + t] = i
        return narrow(lut, len(cells))


class Spill:
    """The decoded columns in an unnamed scratch file: column after column, each the sent rows then the rest."""

    def __init__(self, file: IO[bytes], dtypes: dict[str, np.dtype[Any]], rows: int, width: int) -> None:
        self.file = file
        self.close = weakref.finalize(self, file.close)
        """Closes (and so frees) the scratch file; also done when the spill is collected."""
        self.dtypes = dtypes
        self.rows = rows
        self.width = width
        """Target labels + 1 (the address key's stride)."""
        self.offsets: dict[str, int] = {}
        at = 0
        for name, dtype in dtypes.items():
            self.offsets[name] = at
            at += rows * dtype.itemsize

    @classmethod
    def of(cls, table: StoredTable) -> Spill:
        scan = table.scan
        dtypes = {**{c: np.dtype(np.int64) for c in CLOCKS}, "ok": np.dtype(np.bool_), **{
            c: np.dtype(np.min_scalar_type(-max(len(scan.labels[c]), 1))) for c in table.coded}}
        spill = cls(_scratch(table.path.parent), dtypes, scan.rows, len(scan.labels.get(TARGET_COLUMN, ())) + 1)
        sent_at, unsent_at = 0, scan.sent
        unsent_code = scan.labels["outcome"].index(NOT_SENT)
        for g in range(table.file.num_row_groups):
            decoded = _decode(table.file.read_row_group(g, columns=[*CLOCKS, "ok", *table.coded]), scan.labels)
            keep = decoded["outcome"] != unsent_code
            for rows, at in ((keep, sent_at), (~keep, unsent_at)):
                for name, values in decoded.items():
                    spill.write(name, at, values[rows])
            sent_at += int(keep.sum())
            unsent_at += int((~keep).sum())
        return spill

    def write(self, name: str, at: int, values: npt.NDArray[Any]) -> None:
        if len(values):
            data = np.ascontiguousarray(values, dtype=self.dtypes[name])
            os.pwrite(self.file.fileno(), data.tobytes(), self.offsets[name] + at * data.itemsize)

    def read(self, name: str, start: int, stop: int) -> npt.NDArray[Any]:
        dtype = self.dtypes[name]
        out = np.empty(stop - start, dtype=dtype)
        want, at = out.nbytes, self.offsets[name] + start * dtype.itemsize
        view = out.data.cast("B")
        done = 0
        while done < want:
            got = os.preadv(self.file.fileno(), [view[done:]], at + done)
            if got <= 0:
                raise OSError(f"the analysis scratch file ended early reading {name}")
            done += got
        return out


@dataclass(frozen=True)
class View:
    """The first ``rows`` rows of a spill (the sent ones, or all), with the phases and address codes to derive."""

    spill: Spill
    rows: int
    phases: tuple[PhaseSpan, ...]
    address_lut: npt.NDArray[Any] | None


class SpilledColumn:
    """One analysis column of a :class:`View`: a slice is read from the scratch file (or derived from one)."""

    def __init__(self, view: View, name: str) -> None:
        self.view = view
        self.name = name

    def __len__(self) -> int:
        return self.view.rows

    def __getitem__(self, rows: slice, /) -> npt.NDArray[Any]:
        start, stop, step = rows.indices(len(self))
        if step != 1:
            raise IndexError("a stored column is read in contiguous slices")
        stop = max(start, stop)
        view, read = self.view, self.view.spill.read
        if self.name == "phase_code":
            return phase_codes(read("scheduled_ns", start, stop), view.phases)
        if self.name != "address_code":
            return read(self.name, start, stop)
        types = read("service_type", start, stop)
        if view.address_lut is None:
            return types
        key = types.astype(np.int64)
        key *= view.spill.width
        key += read(TARGET_COLUMN, start, stop)
        key += 1
        found: npt.NDArray[Any] = view.address_lut[key]
        return found


def _scratch(near: Path) -> IO[bytes]:
    """An unnamed file on the disk of ``near`` (else the temporary directory's): gone when closed or the process
    ends."""
    try:
        return tempfile.TemporaryFile(dir=near)
    except OSError:  # a read-only run directory (a copy being re-rendered)
        return tempfile.TemporaryFile()


def _decode(table: pa.Table, labels: dict[str, tuple[str, ...]]) -> dict[str, npt.NDArray[Any]]:
    """A row group: clocks as int64, ok as bool, each categorical as codes into the run's labels."""
    out: dict[str, npt.NDArray[Any]] = {c: table.column(c).to_numpy().astype(np.int64, copy=False) for c in CLOCKS}
    out["ok"] = table.column("ok").to_numpy().astype(np.bool_, copy=False)
    for c, known in labels.items():
        out[c] = _global(table.column(c), known)
    for name in ("service_type", "outcome"):
        if len(out[name]) and out[name].min() < 0:
            raise AnalysisError(f"requests.{name} has missing values; every request needs one")
    return out


def _local(column: pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    """A row group's dictionary column as codes into its own labels (-1 where missing), and those labels."""
    labels: dict[str, int] = {}
    codes = []
    for chunk in (column if pa.types.is_dictionary(column.type) else column.dictionary_encode()).chunks:
        lut = np.array([labels.setdefault(str(v), len(labels)) for v in chunk.dictionary.to_pylist()] or [0])
        found = lut[chunk.indices.fill_null(0).to_numpy(zero_copy_only=False)]
        found[chunk.is_null().to_numpy(zero_copy_only=False)] = -1
        codes.append(found)
    return (np.concatenate(codes) if codes else np.empty(0, dtype=np.int64)), tuple(labels)


def _label_codes(local: tuple[npt.NDArray[np.int64], tuple[str, ...]]) -> npt.NDArray[np.str_]:
    codes, labels = local
    named: npt.NDArray[np.str_] = np.asarray([*labels, ""], dtype=str)[codes]  # -1: the "" after the labels
    return named


def _pairs(local: dict[str, tuple[npt.NDArray[np.int64], tuple[str, ...]]],
           rows: npt.NDArray[np.bool_] | None) -> set[tuple[str, str | None]]:
    """The (service type, target) label pairs of the rows (None: no target recorded)."""
    if TARGET_COLUMN not in local:
        return set()
    (types, type_labels), (targets, target_labels) = local["service_type"], local[TARGET_COLUMN]
    if rows is not None:
        types, targets = types[rows], targets[rows]
    width = len(target_labels) + 1
    keys = np.unique(types * width + targets + 1).tolist()  # -1 (missing) codes: type -1 sorts first, target slot 0
    return {(type_labels[k // width] if k >= 0 else "", target_labels[k % width - 1] if k % width else None)
            for k in keys}


def _ordered(column: str, labels: set[str]) -> tuple[str, ...]:
    """Labels in the order a frame's categories have them (spool.StoredRequests.frame)."""
    if column == "outcome":
        return (*OUTCOME_LABELS, *sorted(labels - set(OUTCOME_LABELS)))
    return tuple(sorted(labels))


def _cells(pairs: set[tuple[str, str | None]], labels: dict[str, tuple[str, ...]]) -> tuple[tuple[int, int], ...]:
    types = {label: i for i, label in enumerate(labels["service_type"])}
    targets = {label: i for i, label in enumerate(labels.get(TARGET_COLUMN, ()))}
    return tuple(sorted((types[ty], 0 if t is None else targets[t] + 1) for ty, t in pairs if ty in types))


def _global(column: pa.ChunkedArray, labels: tuple[str, ...]) -> npt.NDArray[Any]:
    """A row group's dictionary column as codes into the run's labels (-1 where missing), in one or two bytes."""
    codes, local = _local(column)
    position = {label: i for i, label in enumerate(labels)}
    lut = np.array([position[label] for label in local] + [-1], dtype=np.int64)  # -1 stays -1
    return narrow(lut[codes], len(labels))
