"""What `chaoskit run` asks of the metrics: serve them live, then finalize, push and linger after the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaoskit.metrics.exporter import DEFAULT_HOST, MetricsError, MetricsServer, pushgateway_url
from chaoskit.metrics.run import RunMetrics

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chaoskit.analysis.summary import RunSummary
    from chaoskit.experiment import Experiment
    from chaoskit.load.report import WorkerReport


class MetricsSession:
    """A context for one run: the server (if a port was given) serves until the block ends.

    With nothing asked (no port, no Pushgateway) it does nothing and ``metrics`` is None.
    """

    def __init__(self, spec: Experiment, *, backend: str, host: str = DEFAULT_HOST, port: int | None = None,
                 pushgateway: str | None = None, linger_s: float = 0.0) -> None:
        if pushgateway is not None:
            try:  # checked before the run starts, not after it
                pushgateway = pushgateway_url(pushgateway)
            except ValueError as exc:
                raise MetricsError(str(exc), hint="give the Pushgateway as http://HOST:PORT") from exc
        wanted = port is not None or pushgateway is not None
        self.metrics = RunMetrics.for_experiment(spec, backend=backend) if wanted else None
        self.server: MetricsServer | None = None
        self._host, self._port = host, port
        self._pushgateway = pushgateway
        self._linger_s = linger_s

    def __enter__(self) -> MetricsSession:
        if self.metrics is not None and self._port is not None:
            self.server = MetricsServer(self.metrics.registry, host=self._host, port=self._port)
        return self

    def finish(self, summary: RunSummary, *, workers: Sequence[WorkerReport] = ()) -> None:
        """Final values from the run's summary (and the load workers' reports), then the push if one was asked
        for (PushError on failure)."""
        if self.metrics is None:
            return
        self.metrics.finalize(summary, workers=workers)
        if self._pushgateway is not None:
            self.metrics.push(self._pushgateway)

    def __exit__(self, *exc: object) -> None:
        if self.server is None:
            return
        try:
            if self.metrics is not None and self.metrics.finalized:
                self.server.linger(self._linger_s)
        finally:
            self.server.close()
