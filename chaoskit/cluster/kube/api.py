"""A thin raw-JSON layer over the official client's ApiClient: requests, streams, discovery, dry-run log.

Objects stay plain dicts (as the API server sends them), so the pure translation code and its tests work on
recorded API objects. Blocking calls; the cluster runs them in worker threads (``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chaoskit.cluster.kube.errors import (  # re-exported: callers catch them from here
    ApiManifestError,
    ApiStatusError,
    ClusterUnreachable,
    error_from_status,
)
from chaoskit.cluster.protocol import ManifestError, NotFoundError

__all__ = ["ApiManifestError", "ApiStatusError", "ClusterUnreachable", "JsonObj", "KubeApi", "PlannedAction",
           "Resource", "error_from_status", "interrupt", "iter_lines"]

JsonObj = dict[str, Any]
Query = Sequence[tuple[str, str]]

MUTATING: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """One change the backend would make; what ``--dry-run`` shows instead of making it."""

    verb: str
    """HTTP verb or ``exec``."""
    path: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Resource:
    """Where a kind lives in the API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced:
            if not namespace:
                raise ManifestError(f"{self.kind} {name or ''} needs metadata.namespace")
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base

    def all_namespaces_path(self) -> str:
        """The collection across every namespace (what a cluster-wide list uses)."""
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return f"{base}/{self.plural}"


class KubeApi:
    """Requests against one API server. Thread-safe: urllib3 pools are, and discovery is locked."""

    def __init__(self, configuration: Any, *, request_timeout_s: float, dry_run: bool = False) -> None:
        # The client's own annotations are partial; treat it as Any at this one seam.
        client: Any = importlib.import_module("kubernetes.client")
        self._client: Any = client.ApiClient(configuration)
        self.configuration = configuration
        self.timeout_s = request_timeout_s
        self.dry_run = dry_run
        self.planned: list[PlannedAction] = []
        self._lock = threading.Lock()
        self._discovery: dict[str, list[JsonObj]] = {}

    def close(self) -> None:
        self._client.close()

    def plan(self, verb: str, path: str, detail: str = "") -> None:
        """Log a change instead of making it (dry-run)."""
        with self._lock:
            self.planned.append(PlannedAction(verb, path, detail))

    def _serialize(self, method: str, path: str, query: Query | None,
                   headers: Mapping[str, str] | None) -> tuple[str, dict[str, str]]:
        _m, url, hdrs, _b, _p = self._client.param_serialize(
            method=method, resource_path=path, query_params=list(query or []),
            header_params=dict(headers or {}), auth_settings=["BearerToken"],
        )
        return str(url), dict(hdrs)

    def request(self, method: str, path: str, *, query: Query | None = None,
                body: Any = None, content_type: str = "application/json",
                timeout_s: float | None = None, server_dry_run: bool = False) -> JsonObj:
        """One request; JSON in, JSON out. In dry-run mode mutations are logged and not sent, except a
        ``server_dry_run`` one (``dryRun=All``: the API server validates it and changes nothing)."""
        if server_dry_run:
            query = [*(query or []), ("dryRun", "All")]
        elif self.dry_run and method in MUTATING:
            detail = json.dumps(body, sort_keys=True)[:500] if body is not None else ""
            qs = "&".join(f"{k}={v}" for k, v in query or [])
            self.plan(method, path + (f"?{qs}" if qs else ""), detail)
            return {}
        headers = {"Accept": "application/json", "Content-Type": content_type}
        url, hdrs = self._serialize(method, path, query, headers)
        try:
            resp = self._client.rest_client.request(
                method, url, headers=hdrs, body=body,
                _request_timeout=timeout_s or self.timeout_s,
            )
            data = resp.read()
        except Exception as exc:  # urllib3 raises a family of unrelated transport errors
            raise ClusterUnreachable(
                f"{method} {path}: {exc}", hint="is the cluster up and the kubeconfig right?"
            ) from exc
        if not 200 <= resp.status <= 299:
            raise error_from_status(resp.status, data, what=f"{method} {path}")
        parsed: Any = json.loads(data) if data else {}
        return parsed if isinstance(parsed, dict) else {"items": parsed}

    def open_stream(self, path: str, *, query: Query, read_timeout_s: float) -> Any:
        """Open a streaming GET (watch or log follow); returns the urllib3 response, not yet read."""
        url, hdrs = self._serialize("GET", path, query, {"Accept": "application/json"})
        try:
            resp = self._client.rest_client.request(
                "GET", url, headers=hdrs, _request_timeout=(self.timeout_s, read_timeout_s),
            )
        except Exception as exc:  # transport errors, as in request()
            raise ClusterUnreachable(f"GET {path}: {exc}") from exc
        if not 200 <= resp.status <= 299:
            raise error_from_status(resp.status, resp.read(), what=f"watch {path}")
        return resp.response

    def resource(self, api_version: str, kind: str) -> Resource:
        """Find the plural and scope of a kind by discovery (cached per group-version)."""
        with self._lock:
            listing = self._discovery.get(api_version)
        if listing is None:
            path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            try:
                listing = list(self.request("GET", path).get("resources", []))
            except NotFoundError as exc:
                raise ManifestError(f"apiVersion {api_version} is not served by this cluster",
                                    hint="is the CRD or API group installed?") from exc
            with self._lock:
                self._discovery[api_version] = listing
        for res in listing:
            if res.get("kind") == kind and "/" not in res.get("name", ""):
                return Resource(api_version, kind, res["name"], bool(res.get("namespaced")))
        raise ManifestError(f"kind {kind} is not served in {api_version}",
                            hint="check apiVersion/kind, or install the CRD")


def iter_lines(resp: Any) -> Iterator[bytes]:
    """Lines of a chunked streaming response, as they arrive."""
    buffer = bytearray()
    for segment in resp.stream(amt=None, decode_content=False):
        buffer.extend(segment)
        start = 0
        while (nl := buffer.find(b"\n", start)) != -1:
            yield bytes(buffer[start:nl])
            start = nl + 1
        del buffer[:start]
    if buffer:
        yield bytes(buffer)


def interrupt(resp: Any) -> None:
    """Unblock a thread reading ``resp`` from another thread (shut the socket down under it)."""
    shutdown = getattr(resp, "shutdown", None)  # urllib3 >= 2.3 has exactly this
    if callable(shutdown):
        shutdown()
        return
    conn = getattr(resp, "connection", None) or getattr(resp, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: the reader is unblocked either way
            sock.shutdown(socket.SHUT_RDWR)
