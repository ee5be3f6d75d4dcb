"""How the engine tells the outside world (terminal view, metrics exporter) what is happening."""

from __future__ import annotations

import logging
from typing import Protocol

import pandas as pd

from chaoskit.vocab import ClusterEvent

log = logging.getLogger(__name__)


class RunObserver(Protocol):
    """Called from the engine's event loop; implementations must be quick and should not raise."""

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
    """Fan-out to several observers. One that raises never breaks the run or the others: its first failure
    is logged with the traceback (later ones are counted, not repeated), and ``failures`` says so afterwards."""

    def __init__(self, *observers: RunObserver) -> None:
        self._observers = list(observers)
        self.failures: dict[str, int] = {}
        """Observer class name -> how many calls raised."""

    def add(self, observer: RunObserver) -> None:
        self._observers.append(observer)

    def on_phase(self, phase: str, ends_at_ns: int) -> None:
        for observer in self._observers:
            try:
                observer.on_phase(phase, ends_at_ns)
            except Exception:  # a display or exporter problem must not abort a run
                self._failed(observer, "on_phase")

    def on_records(self, records: pd.DataFrame) -> None:
        for observer in self._observers:
            try:
                observer.on_records(records)
            except Exception:  # a display or exporter problem must not abort a run
                self._failed(observer, "on_records")

    def on_event(self, event: ClusterEvent) -> None:
        for observer in self._observers:
            try:
                observer.on_event(event)
            except Exception:  # a display or exporter problem must not abort a run
                self._failed(observer, "on_event")

    def notes(self) -> list[str]:
        """One line per observer that failed, for the run's notes."""
        return [f"observer {name} failed {count} time(s); the first traceback is in the log"
                for name, count in self.failures.items()]

    def _failed(self, observer: RunObserver, hook: str) -> None:
        name = type(observer).__name__
        count = self.failures.get(name, 0) + 1
        self.failures[name] = count
        if count == 1:
            log.exception("observer %s failed in %s; the run goes on", name, hook)
