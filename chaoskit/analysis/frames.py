"""Shared helpers of the analysis: input column contracts, category codes, phases, rounding."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from chaoskit.load.records import REQUEST_COLUMNS
from chaoskit.vocab import REQUIRED_EVENT_COLUMNS, EventKind

TARGET_COLUMN: Final = "target"
"""Optional requests column: the address a request went to (``host:port``, plus `` (node)`` for NodePort)."""
OUTSIDE: Final = "outside"
"""Phase label of requests scheduled outside every recorded phase."""
NS_PER_S: Final = 1_000_000_000

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
CodeArray = npt.NDArray[np.signedinteger[Any]]
"""Small integer codes (int8 or int16: one or two bytes a request). Arithmetic on them must widen first
(``astype(np.int32)``): numpy keeps an int8 times a Python int in int8, and that overflows silently."""


Item_co = TypeVar("Item_co", bound=np.generic, covariant=True)


class Column(Protocol[Item_co]):
    """A per-request column read a slice of rows at a time: a numpy array (a table in memory) or a column of
    requests.parquet read row group by row group (``analysis/stored.py``). The analysis takes only slices of it
    (:func:`row_chunks`), never the whole column at once, so that it holds a chunk however long the run."""

    def __len__(self) -> int: ...

    def __getitem__(self, rows: slice, /) -> npt.NDArray[Item_co]: ...


CodeColumn = Column[np.signedinteger[Any]]


class AnalysisError(ValueError):
    """The input tables do not follow the documented contract (missing columns, bad values)."""


def check_columns(frame: pd.DataFrame, required: tuple[str, ...], *, table: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise AnalysisError(f"{table} table lacks columns {missing}; expected at least {list(required)}")


def check_requests(requests: pd.DataFrame) -> None:
    check_columns(requests, REQUEST_COLUMNS, table="requests")


def check_events(events: pd.DataFrame) -> None:
    check_columns(events, REQUIRED_EVENT_COLUMNS, table="events")


def codes(series: pd.Series) -> tuple[CodeArray, tuple[str, ...]]:
    """Integer codes and labels of a categorical (or string) column; missing values get -1.

    The categorical's own codes, not a copy (int8 up to 127 labels): see :data:`CodeArray`."""
    cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
    labels = tuple(str(c) for c in cat.cat.categories)
    return np.asarray(cat.array.codes), labels  # a read-only view (``.cat.codes`` would build a new Series)


CHUNK_ROWS: Final = 1 << 18
"""Rows taken at a time where a whole-column temporary would cost bytes per request (counting, recoding, the
charts, windows, percentiles): a few MB however long the run."""
chunk_rows = CHUNK_ROWS
"""The size :func:`row_chunks` uses when given none: tests make it small to put chunk edges everywhere."""


def row_chunks(rows: int, size: int | None = None) -> Iterator[slice]:
    """``[0, rows)`` in consecutive slices of at most ``size`` rows (default :data:`chunk_rows`)."""
    step = size or chunk_rows
    return (slice(at, min(at + step, rows)) for at in range(0, rows, step))


def count_codes(values: npt.NDArray[np.integer[Any]], minlength: int) -> IntArray:
    """``np.bincount`` of small codes a chunk at a time: bincount widens its whole input to int64 first, eight
    bytes a request for one line of counting."""
    total = np.zeros(minlength, dtype=np.int64)
    for chunk in row_chunks(len(values)):
        found = np.bincount(values[chunk], minlength=minlength)
        total[:len(found)] += found[:minlength]
        if len(found) > minlength:
            raise AnalysisError(f"a code {len(found) - 1} beyond the {minlength} expected")
    return total


def narrow(values: npt.NDArray[Any], labels: int) -> CodeArray:
    """``values`` (codes below ``labels``) in the smallest signed type that holds them, -1 included."""
    return values.astype(np.min_scalar_type(-max(labels, 1)), copy=False)


def int_column(frame: pd.DataFrame, name: str) -> IntArray:
    return frame[name].to_numpy(dtype=np.int64, copy=False)


@dataclass(frozen=True)
class PhaseSpan:
    """One experiment phase on the wall clock."""

    name: str
    begin_ns: int
    end_ns: int

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.begin_ns) / NS_PER_S


def phases_from_events(events: pd.DataFrame) -> tuple[PhaseSpan, ...]:
    """Phases from PHASE events (``detail`` begin/end), in time order.

    A phase without an end (an aborted run) ends where the next phase begins, or at the last event.
    """
    rows = events.loc[events["kind"] == EventKind.PHASE.value, ["ts_ns", "name", "detail"]]
    rows = rows.sort_values("ts_ns", kind="stable")
    begins: dict[str, int] = {}
    ends: dict[str, int] = {}
    for ts, name, detail in rows.itertuples(index=False, name=None):
        target = begins if detail == "begin" else ends if detail == "end" else None
        if target is not None and str(name) not in target:
            target[str(name)] = int(ts)
    last_ts = int(events["ts_ns"].max()) if len(events) else 0
    ordered = sorted(begins.items(), key=lambda item: item[1])
    spans = []
    for i, (name, begin) in enumerate(ordered):
        fallback = ordered[i + 1][1] if i + 1 < len(ordered) else max(last_ts, begin)
        spans.append(PhaseSpan(name=name, begin_ns=begin, end_ns=ends.get(name, fallback)))
    return tuple(spans)


def phase_codes(scheduled_ns: IntArray, phases: tuple[PhaseSpan, ...]) -> CodeArray:
    """Index into ``phases`` per request (by scheduled start); ``len(phases)`` when outside all.

    A request belongs to the phase that began last at or before its scheduled start, if that phase had not
    ended yet. Phase by phase into one small array, a chunk of rows at a time: no full-length temporary."""
    out = np.full(len(scheduled_ns), len(phases), dtype=np.min_scalar_type(-(len(phases) + 1)))
    for rows in row_chunks(len(scheduled_ns)):
        scheduled, coded = scheduled_ns[rows], out[rows]
        for i, phase in enumerate(phases):
            upto = min(phase.end_ns, phases[i + 1].begin_ns) if i + 1 < len(phases) else phase.end_ns
            if upto > phase.begin_ns:
                coded[(scheduled >= phase.begin_ns) & (scheduled < upto)] = i
    return out


def seconds(ns: float | int) -> float:
    """Nanoseconds to seconds, rounded to the microsecond (what the report can honestly show)."""
    return round(float(ns) / NS_PER_S, 6)


def millis(ns: float | int) -> float:
    return round(float(ns) / 1e6, 3)


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` to 9 decimals (1 failure in 10M must not round to 1.0); None if empty."""
    return round(part / whole, 9) if whole else None


@dataclass(frozen=True)
class Columns:
    """The request table as columns read a chunk of rows at a time (:class:`Column`), categories turned into
    codes once for every analysis."""

    type_code: CodeColumn
    types: tuple[str, ...]
    phase_code: CodeColumn
    phases: tuple[str, ...]
    """Phase names in time order, then :data:`OUTSIDE`."""
    outcome_code: CodeColumn
    outcomes: tuple[str, ...]
    ok: Column[np.bool_]
    scheduled_ns: Column[np.int64]
    start_ns: Column[np.int64]
    latency_ns: Column[np.int64]
    address_code: CodeColumn
    """The address (path) each request took: see :func:`address_codes`."""
    addresses: tuple[str, ...]
    address_type: IntArray
    """The service type code of each address."""
    service_code: CodeColumn
    services: tuple[str, ...]
    """The Service each request went to (its name)."""

    def __len__(self) -> int:
        return len(self.ok)


def type_phase_cells(cols: Columns, rows: slice) -> npt.NDArray[np.int32]:
    """Each request's (service type, phase) cell in ``rows``, ``type * len(phases) + phase``. Widened to int32
    before the arithmetic (the codes are int8: :data:`CodeArray`)."""
    cell = cols.type_code[rows].astype(np.int32)
    cell *= len(cols.phases)
    cell += cols.phase_code[rows]
    return cell


def column_extreme(column: Column[np.int64], *, most: bool) -> int | None:
    """The largest (or smallest) value of a column, a chunk at a time; None when it is empty."""
    pick = np.max if most else np.min
    found = [int(pick(part)) for rows in row_chunks(len(column)) if len(part := column[rows])]
    return (max if most else min)(found) if found else None


def prepare(requests: pd.DataFrame, phases: tuple[PhaseSpan, ...]) -> Columns:
    check_requests(requests)
    type_code, types = codes(requests["service_type"])
    outcome_code, outcomes = codes(requests["outcome"])
    scheduled = int_column(requests, "scheduled_ns")
    for name, column in (("service_type", type_code), ("outcome", outcome_code)):
        if len(column) and column.min() < 0:
            raise AnalysisError(f"requests.{name} has missing values; every request needs one")
    address_code, addresses, address_type = address_codes(requests, type_code, types)
    service_code, services = codes(requests["service"])
    return Columns(
        type_code=type_code,
        types=types,
        phase_code=phase_codes(scheduled, phases),
        phases=(*(p.name for p in phases), OUTSIDE),
        outcome_code=outcome_code,
        outcomes=outcomes,
        ok=requests["ok"].to_numpy(dtype=np.bool_),
        scheduled_ns=scheduled,
        start_ns=int_column(requests, "start_ns"),
        latency_ns=int_column(requests, "latency_ns"),
        address_code=address_code,
        addresses=addresses,
        address_type=address_type,
        service_code=service_code,
        services=services,
    )


def address_codes(
    requests: pd.DataFrame, type_code: CodeArray, types: tuple[str, ...]
) -> tuple[CodeArray, tuple[str, ...], IntArray]:
    """Per request the address it took, as a code; the address labels; each address's type code.

    An address is one (service type, ``target``) pair: ``target`` is the ``host:port`` the request went
    to (`` (node)`` added for a NodePort). Runs saved before that column existed, and rows without a
    value, fall back to the service type itself as the address.
    """
    if TARGET_COLUMN not in requests.columns:
        return type_code, types, np.arange(len(types), dtype=np.int64)
    target_code, targets = codes(requests[TARGET_COLUMN])
    width = len(targets) + 1  # slot 0: no target recorded

    def key(rows: slice) -> npt.NDArray[np.int32]:
        cell = type_code[rows].astype(np.int32)  # widened before the arithmetic, in place after it
        cell *= width
        cell += target_code[rows]
        cell += 1
        return cell

    present = np.zeros(len(types) * width, dtype=np.bool_)
    for rows in row_chunks(len(type_code)):
        present |= count_codes(key(rows), len(types) * width) > 0
    cells = np.flatnonzero(present)
    dense = narrow(np.cumsum(present) - 1, len(cells))
    labels = tuple(targets[c % width - 1] if c % width else types[c // width] for c in cells.tolist())
    address = np.empty(len(type_code), dtype=dense.dtype)
    for rows in row_chunks(len(type_code)):  # a chunk's int32 key at a time, not four bytes a request
        address[rows] = dense[key(rows)]
    return address, labels, (cells // width).astype(np.int64)


def run_end_ns(cols: Columns, phases: tuple[PhaseSpan, ...]) -> int:
    """The end of the run: the end of the last phase, or the last request's start when that is later
    (or when no phase was recorded). An unavailability window still open then ends here."""
    last_start = column_extreme(cols.start_ns, most=True) or 0
    return max(phases[-1].end_ns, last_start) if phases else last_start
