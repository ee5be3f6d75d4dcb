"""The live terminal view of a run: phase, time left, req/s and errors per Service type, recent pod events."""

from __future__ import annotations

import collections
import time

import pandas as pd
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chaoskit.vocab import ClusterEvent, EventKind

WINDOW_NS = 1_000_000_000
SHOWN_EVENTS = (EventKind.POD_TERMINATING, EventKind.POD_DELETED, EventKind.POD_READY, EventKind.POD_SCHEDULED,
                EventKind.CONTAINER_RESTARTED, EventKind.CONTAINER_DIED, EventKind.FAULT_BEGIN,
                EventKind.NODE_CORDONED, EventKind.NODE_UNCORDONED, EventKind.NODE_NOT_READY)


class LiveView:
    """A RunObserver drawing a rich Live panel (TTY), or printing one line per phase (not a TTY)."""

    def __init__(self, console: Console, experiment: str) -> None:
        self._console = console
        self._experiment = experiment
        self._phase = "setup"
        self._ends_at_ns = 0
        self._recent: collections.deque[tuple[int, str, bool]] = collections.deque()
        self._totals: dict[str, list[int]] = {}
        self._events: collections.deque[str] = collections.deque(maxlen=6)
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        if self._console.is_terminal:
            self._live = Live(get_renderable=self._render, console=self._console, refresh_per_second=4,
                              transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def on_phase(self, phase: str, ends_at_ns: int) -> None:
        self._phase, self._ends_at_ns = phase, ends_at_ns
        if self._live is None:
            self._console.print(f"[bold]{self._experiment}[/]: {phase}")

    def on_records(self, records: pd.DataFrame) -> None:
        for service_type, start, ok in zip(records["service_type"].astype(str), records["start_ns"],
                                            records["ok"], strict=True):
            self._recent.append((int(start), service_type, bool(ok)))
            totals = self._totals.setdefault(service_type, [0, 0])
            totals[0] += 1
            totals[1] += 0 if ok else 1

    def on_event(self, event: ClusterEvent) -> None:
        if event.kind in SHOWN_EVENTS:
            stamp = time.strftime("%H:%M:%S", time.localtime(event.ts_ns / 1e9))
            where = f" on {event.node}" if event.node else ""
            self._events.append(f"{stamp} {event.kind.value:<20} {event.name}{where} {event.detail}")

    def _render(self) -> RenderableType:
        now = time.time_ns()
        while self._recent and self._recent[0][0] < now - WINDOW_NS:
            self._recent.popleft()
        left = max(0.0, (self._ends_at_ns - now) / 1e9)
        header = Text.assemble((f"{self._experiment} ", "bold"), (self._phase, "cyan"), f"  {left:4.1f}s left")
        table = Table(box=None)
        for column in ("service type", "req/s", "errors/s", "requests", "failed"):
            table.add_column(column, justify="right")
        for service_type, (total, failed) in sorted(self._totals.items()):
            last = [ok for _, t, ok in self._recent if t == service_type]
            errors = sum(1 for ok in last if not ok)
            table.add_row(service_type, str(len(last)), Text(str(errors), style="red" if errors else ""),
                          str(total), str(failed))
        return Group(header, table, Text("\n".join(self._events), style="dim"))
