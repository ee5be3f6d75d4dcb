"""The live /metrics server: serves the run's registry on loopback, counts scrapes, lingers, frees its port."""

from __future__ import annotations

import socket
import threading
import urllib.request

import pytest

from chaoskit.analysis.synthetic import requests_from
from chaoskit.metrics import MetricsError, MetricsServer, PushError, RunMetrics, push

pytestmark = pytest.mark.prometheus

HOST = "127.66.0.1"
"""This tier's own loopback range."""


def scrape(server: MetricsServer) -> str:
    with urllib.request.urlopen(server.url, timeout=5) as reply:
        return str(reply.read().decode())


def test_serves_the_registry_and_counts_scrapes() -> None:
    metrics = RunMetrics("exp")
    metrics.on_records(requests_from([1, 2], [True, True]))
    with MetricsServer(metrics.registry, host=HOST, port=0) as server:
        mark = server.scrape_mark()
        body = scrape(server)
        assert server.wait_for_scrape(since=mark, timeout_s=5)
        assert 'chaoskit_requests_total{experiment="exp",outcome="ok"' in body
        assert not server.wait_for_scrape(since=server.scrape_mark(), timeout_s=0.2)  # no scrape since


def test_linger_returns_after_the_next_scrape() -> None:
    with MetricsServer(RunMetrics("exp").registry, host=HOST, port=0) as server:
        result: list[bool] = []
        waiter = threading.Thread(target=lambda: result.append(server.linger(30)))
        waiter.start()
        while waiter.is_alive():  # scrape until the waiter has seen one that started after it began waiting
            scrape(server)
            waiter.join(timeout=0.05)
        assert result == [True]
        assert server.linger(0) is False


def test_a_taken_port_is_a_metrics_error_and_close_frees_the_port() -> None:
    with MetricsServer(RunMetrics("exp").registry, host=HOST, port=0) as server:
        port = server.port
        with pytest.raises(MetricsError, match="cannot serve metrics"):
            MetricsServer(RunMetrics("exp").registry, host=HOST, port=port)
    with socket.socket() as probe:
        probe.bind((HOST, port))  # released


def test_push_to_nothing_is_a_push_error() -> None:
    with socket.socket() as closed:
        closed.bind((HOST, 0))
        port = closed.getsockname()[1]
    with pytest.raises(PushError, match="push to"):
        push(RunMetrics("exp").registry, f"http://{HOST}:{port}", grouping={"experiment": "exp", "run": "r"},
             timeout_s=2)
