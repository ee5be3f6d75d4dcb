"""Before load starts: every load target must answer, so the baseline measures the service, not its start-up.

The probe sends the request the load will send (method, first path, headers, body, TLS; or the tcp exchange)
and judges it by the same success rule, so a POST-only API or a TLS-only port is probed as it will be loaded.

An address that keeps answering with the same status outside ``request.success`` (404 on a wrong path, 401,
500 ...) is not starting up: the experiment asks for something the service does not serve, so that is bad
input (``TargetAnswerError``, exit 2) at once, not a wait until the timeout.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence

from chaoskit.cluster.protocol import ClusterError
from chaoskit.load.plan import LoadTarget
from chaoskit.load.shape import http_request, make_ssl_context

CONSECUTIVE_OK = 3
"""A target counts as reachable after this many successive answers (the data path may still be syncing)."""
CONSECUTIVE_REFUSALS = 3
"""The same unsuccessful status this many times in a row is the service's answer, not a start-up hiccup."""
_MAX_REPLY = 4096


class TargetAnswerError(ClusterError):
    """A load target answers, with a status the load would count as failed (bad input: exit 2)."""


async def probe(target: LoadTarget, *, timeout_s: float = 1.0) -> str:
    """One request on a new connection: ``""`` when it succeeds as the load would count it, else why not."""
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            shape = target.request
            tls = make_ssl_context(shape, ssl) if shape.https else None
            reader, writer = await asyncio.open_connection(
                target.host, target.port, ssl=tls,
                server_hostname=shape.tls_server_name(target.host) if tls is not None else None)
            if shape.mode == "tcp":
                return await _tcp_exchange(reader, writer, target)
            path = shape.path_cycle(target.path)[0]
            writer.write(http_request(shape, target.host, target.port, path, keepalive=False))
            status = (await reader.readline()).split()
        if len(status) < 2 or not status[1].isdigit():
            return "no HTTP status line in the answer"
        code = int(status[1])
        return "" if shape.is_success(code) else f"HTTP {code}"
    except TimeoutError:
        return f"no answer within {timeout_s:g}s"
    except ssl.SSLError as exc:
        return f"TLS: {exc.reason or exc}"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    finally:
        if writer is not None:
            writer.close()


async def answers(target: LoadTarget, *, timeout_s: float = 1.0) -> bool:
    """True when one request (shaped as the load's) succeeds by the load's success rule."""
    return await probe(target, timeout_s=timeout_s) == ""


async def _tcp_exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: LoadTarget) -> str:
    shape = target.request
    if shape.send:
        writer.write(shape.send)
    if not shape.expect:
        return ""
    reply = b""
    while len(reply) < len(shape.expect) and shape.expect.startswith(reply):
        chunk = await reader.read(min(_MAX_REPLY, len(shape.expect) - len(reply)))
        if not chunk:
            break
        reply += chunk
    return "" if reply.startswith(shape.expect) else f"reply {reply[:40]!r} does not start with {shape.expect!r}"


async def wait_reachable(targets: Sequence[LoadTarget], *, timeout_s: float) -> None:
    """Poll each target (bounded) until it answers CONSECUTIVE_OK times in a row."""
    deadline = time.monotonic() + timeout_s
    for target in targets:
        streak, refusals, last = 0, 0, ""
        while streak < CONSECUTIVE_OK:
            why = await probe(target)
            streak = 0 if why else streak + 1
            if streak >= CONSECUTIVE_OK:
                break
            # The same HTTP status again and again is the service's answer: say so now.
            refusals = refusals + 1 if why.startswith("HTTP") and why == last else int(why.startswith("HTTP"))
            last = why
            if refusals >= CONSECUTIVE_REFUSALS:
                raise TargetAnswerError(
                    f"{target.service_type} {target.service} at {target.host}:{target.port} answers {why} to "
                    f"{_asked(target).removesuffix(' successfully')}", hint=_status_hint(target, why))
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{target.service_type} {target.service} at {target.host}:{target.port} does not answer "
                    f"{_asked(target)} after {timeout_s:g}s (last try: {why or 'ok, but not 3 times in a row'})",
                    hint=_hint(target, why))
            await asyncio.sleep(0.05)


def _asked(target: LoadTarget) -> str:
    shape = target.request
    if shape.mode == "tcp":
        return "a tcp connection" + (f" with a reply starting {shape.expect!r}" if shape.expect else "")
    scheme = "https" if shape.https else "http"
    return f"{shape.method} {scheme}://{target.host}:{target.port}{shape.path_cycle(target.path)[0]} successfully"


def _status_hint(target: LoadTarget, why: str) -> str:
    status = int(why.split()[1])
    if status == 404:
        return ("the path names a page the service does not serve: use one it answers with a success status "
                "(load.path, or request.path/paths)")
    if status in (401, 403, 407):
        return ("the service wants credentials: add them in request.headers (e.g. Authorization), or load a path "
                "that needs none")
    if status >= 500:
        return "the service's Ready pods fail this request: check its logs, or load one it answers with success"
    return _hint(target, why)


def _hint(target: LoadTarget, why: str) -> str:
    if why.startswith("TLS"):
        return ("check request.ca_file (the CA that signed the server's certificate) and request.server_name "
                "(the name the certificate carries), or set request.insecure: true")
    if why.startswith("HTTP"):
        return ("the service answers, but not with a status in request.success: check request.method, path, "
                "headers (e.g. Authorization) and success")
    if target.service_type == "ClusterIP":
        return ("a ClusterIP is reachable only from a node or a pod: load it from an in-cluster Job "
                "(--load-from in-cluster, or auto), run chaoskit on a node, or load only NodePort")
    return "check that the Service selects the ready pods and that this host can reach the address"
