"""Prometheus metrics of a run: per-run collectors, a live /metrics server, a push to a Pushgateway."""

from chaoskit.metrics.exporter import MetricsError, MetricsServer, PushError, push, pushgateway_url
from chaoskit.metrics.run import RunMetrics, fault_of
from chaoskit.metrics.session import MetricsSession

__all__ = ["MetricsError", "MetricsServer", "MetricsSession", "PushError", "RunMetrics", "fault_of", "push",
           "pushgateway_url"]
