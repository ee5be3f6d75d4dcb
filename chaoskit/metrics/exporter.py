"""Getting metrics out: a /metrics HTTP server for live scrapes, and a push of final values to a Pushgateway."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app, push_to_gateway

DEFAULT_HOST = "127.0.0.1"
"""Loopback unless asked otherwise: run metrics are nobody else's business by default."""
DEFAULT_JOB = "chaoskit"


class MetricsError(Exception):
    """The metrics server could not start (bad host/port: bad input)."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class PushError(MetricsError):
    """The Pushgateway could not be reached or refused the push (infrastructure)."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stuck scraper must not keep the process alive


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape on stderr would garble the terminal view


StartResponse = Callable[..., Any]


class _Sent:
    """A WSGI response body that reports when the server has written it (the server then calls close())."""

    def __init__(self, body: Iterable[bytes], sent: Callable[[], None]) -> None:
        self._body = body
        self._sent = sent

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._sent()


class MetricsServer:
    """Serves one registry at ``/metrics`` from a daemon thread until :meth:`close`; counts scrapes."""

    def __init__(self, registry: CollectorRegistry, *, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self._app = make_wsgi_app(registry)
        self._cond = threading.Condition()
        self._started = 0
        self._finished_last = -1
        try:
            self._server = make_server(host, port, self._counted, _Server, handler_class=_QuietHandler)
        except OSError as exc:
            raise MetricsError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
                               hint="pick a free --metrics-port, or an address of this host for --metrics-host"
                               ) from exc
        self._thread = threading.Thread(target=self._server.serve_forever, name="chaoskit-metrics", daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def _counted(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        with self._cond:
            ticket = self._started
            self._started += 1
        body: Iterable[bytes] = self._app(environ, start_response)  # the registry is collected in here
        # A scrape counts once its response is sent, not when the body is made: the WSGI server calls close()
        # after writing it. Counted earlier, --metrics-linger could end the process (and its daemon handler
        # thread) while the final values were still on their way, and Prometheus never got them.
        return _Sent(body, lambda: self._finished(ticket))

    def _finished(self, ticket: int) -> None:
        with self._cond:
            self._finished_last = max(self._finished_last, ticket)
            self._cond.notify_all()

    def scrape_mark(self) -> int:
        """A mark for :meth:`wait_for_scrape`: scrapes that start after this call count."""
        with self._cond:
            return self._started

    def wait_for_scrape(self, *, since: int, timeout_s: float) -> bool:
        """Wait until a scrape that started at or after mark ``since`` has been answered; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._finished_last >= since, timeout=timeout_s)

    def linger(self, timeout_s: float) -> bool:
        """Keep serving until the next complete scrape (so final values get scraped), at most ``timeout_s``."""
        if timeout_s <= 0:
            return False
        return self.wait_for_scrape(since=self.scrape_mark(), timeout_s=timeout_s)

    def close(self) -> None:
        """Stop serving and release the port. Safe to call twice."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pushgateway_url(value: str) -> str:
    """A Pushgateway base URL from ``host:port`` or ``http(s)://host:port[/path]``; ValueError if unusable."""
    url = value if "://" in value else f"http://{value}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL of a Pushgateway: {value!r}")
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError as exc:
        raise ValueError(f"bad port in {value!r}") from exc
    return url.rstrip("/")


def push(registry: CollectorRegistry, url: str, *, grouping: dict[str, str], job: str = DEFAULT_JOB,
         timeout_s: float = 10.0) -> None:
    """PUT every metric of ``registry`` into the Pushgateway group ``job`` + ``grouping``.

    PUT replaces only that one group (one run, when grouped by run); nothing else is deleted, and
    the group stays until someone deletes it, so results of past runs remain queryable.
    """
    try:
        push_to_gateway(pushgateway_url(url), job=job, registry=registry, grouping_key=grouping, timeout=timeout_s)
    except ValueError as exc:
        raise PushError(str(exc), hint="give the Pushgateway as http://HOST:PORT") from exc
    except OSError as exc:  # URLError/HTTPError are OSErrors; push_to_gateway raises IOError on a non-2xx reply
        raise PushError(f"push to {url} failed: {exc}",
                        hint="check that the Pushgateway is running and reachable from this host") from exc
