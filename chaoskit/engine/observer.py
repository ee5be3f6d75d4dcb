"""How the engine tells the outside world (terminal view, metrics exporter) what is happening."""

from __future__ import annotations

import contextlib
from typing import Protocol

import pandas as pd

from chaoskit.vocab import ClusterEvent


class RunObserver(Protocol):
    """Called from the engine's event loop; implementations must be quick and must not raise."""

    def on_phase(self, phase: str, ends_at_ns: int) -> None: ...

    def on_records(self, records: pd.DataFrame) -> None: ...

    def on_event(self, event: ClusterEvent) -> None: ...


class NullObserver:
    def on_phase(self, phase: str, ends_at_ns: int) -> None:
        pass

    def on_records(self, records: pd.DataFrame) -> None:
        pass

    def on_event(self, event: ClusterEvent) -> None:
        pass


class Observers:
    """Fan-out to several observers; one failing observer never breaks the run or the others."""

    def __init__(self, *observers: RunObserver) -> None:
        self._observers = list(observers)

    def add(self, observer: RunObserver) -> None:
        self._observers.append(observer)

    def on_phase(self, phase: str, ends_at_ns: int) -> None:
        for observer in self._observers:
            with contextlib.suppress(Exception):  # a display or exporter problem must not abort a run
                observer.on_phase(phase, ends_at_ns)

    def on_records(self, records: pd.DataFrame) -> None:
        for observer in self._observers:
            with contextlib.suppress(Exception):
                observer.on_records(records)

    def on_event(self, event: ClusterEvent) -> None:
        for observer in self._observers:
            with contextlib.suppress(Exception):
                observer.on_event(event)
