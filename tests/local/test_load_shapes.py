"""Shaped load against real processes: every outcome counted exactly, compared with the target's own count
(which also proves nothing was retried: exactly the planned number of requests arrives)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

from chaoskit.cluster.protocol import ClusterError
from chaoskit.engine.reachability import probe, wait_reachable
from chaoskit.load.agent import LoadAgent, LoadPlan, LoadTarget
from chaoskit.load.plan import ConnectionMode
from chaoskit.load.shape import RequestShape
from tests.local.engine_support import experiment, run
from tests.local.shapes_support import Certs, RecordingServer, Standin, make_certs, standin
from tests.local.test_load_agent import free_port, run_agent

pytestmark = pytest.mark.local

PORT = 18090
RATE = 50.0
N = 50
"""Requests per plan: RATE over one second."""
_hosts = iter(f"127.62.5.{i}" for i in range(10, 250))


def plan_for(target: Standin | RecordingServer, shape: RequestShape, *,
             connection: ConnectionMode = "keepalive") -> LoadPlan:
    return LoadPlan(targets=(LoadTarget("api", "ClusterIP", target.host, target.port, request=shape),),
                    rate=RATE, duration_s=N / RATE, connection=connection, timeout_s=2.0)


def outcomes(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame["outcome"].value_counts().items() if v}


@pytest.mark.parametrize(("path", "success", "expected"), [
    ("/status/503", ((200, 399),), "http_5xx"),
    ("/status/404", ((200, 399),), "http_4xx"),
    ("/status/302", ((200, 299),), "http_other"),  # a redirect is a failure when only 2xx counts
    ("/status/302", ((200, 399),), "ok"),           # ... and a success by default
    ("/status/503", ((200, 299), (503, 503)), "ok"),  # success is whatever the experiment says
])
def test_each_status_is_counted_as_its_outcome(agents: list[LoadAgent], path: str,
                                                success: tuple[tuple[int, int], ...], expected: str) -> None:
    with standin(next(_hosts), PORT) as target:
        shape = RequestShape(paths=((path, 1),), success=success)
        report, frame = run_agent(plan_for(target, shape), agents)
    assert report.requests == N
    assert outcomes(frame) == {expected: N}
    assert set(frame["status"]) == {int(path[-3:])}
    assert target.requests(f"GET {path}") == N  # one attempt each: nothing retried, nothing dropped


@pytest.mark.parametrize(("headers", "expected", "status"), [
    ((), "http_4xx", 401),
    ((("Authorization", "Bearer wrong"),), "http_4xx", 403),
    ((("Authorization", "Bearer s3cret"),), "ok", 200),
])
def test_a_header_guarded_path_with_and_without_the_header(
        agents: list[LoadAgent], headers: tuple[tuple[str, str], ...], expected: str, status: int) -> None:
    with standin(next(_hosts), PORT, CHAOSKIT_AUTH_TOKEN="s3cret") as target:
        shape = RequestShape(paths=(("/auth", 1),), headers=headers)
        report, frame = run_agent(plan_for(target, shape, connection="new-connection"), agents)
    assert report.requests == N
    assert outcomes(frame) == {expected: N}
    assert set(frame["status"]) == {status}
    assert target.requests("GET /auth") == N


@pytest.mark.parametrize("connection", ["keepalive", "new-connection"])
def test_post_bodies_arrive_whole_and_once(agents: list[LoadAgent], connection: ConnectionMode) -> None:
    body = b'{"item": "chaoskit", "qty": 3}\n' * 40  # 1.3 KB: more than one small write
    with standin(next(_hosts), PORT) as target:
        shape = RequestShape(method="POST", paths=(("/echo", 1),), body=body,
                             headers=(("Content-Type", "application/json"),))
        report, frame = run_agent(plan_for(target, shape, connection=connection), agents)
    assert report.requests == N
    assert outcomes(frame) == {"ok": N}
    assert target.requests("POST /echo") == N
    assert target.stats["echo_bytes"] == N * len(body)  # the target's own count of body bytes


def test_head_responses_are_framed_without_a_body(agents: list[LoadAgent]) -> None:
    # A HEAD answer announces a Content-Length but carries no body: a client that waited for it would
    # time out; one that misframed would break the next request on the kept-alive connection.
    with standin(next(_hosts), PORT) as target:
        report, frame = run_agent(plan_for(target, RequestShape(method="HEAD", paths=(("/", 1),))), agents)
    assert outcomes(frame) == {"ok": N}
    assert target.requests("HEAD /") == N
    assert report.connections < N  # the connection was reused after HEAD answers


def test_weighted_paths_split_requests_exactly(agents: list[LoadAgent]) -> None:
    with standin(next(_hosts), PORT) as target:
        shape = RequestShape(paths=(("/healthz", 3), ("/status/503", 1), ("/", 1)))
        _, frame = run_agent(plan_for(target, shape), agents)
    # 50 requests = 10 cycles of 5: exactly 30, 10 and 10, whatever the seed (there is none).
    assert target.requests("GET /healthz") == 30
    assert target.requests("GET /status/503") == 10
    assert target.requests("GET /") == 10
    assert outcomes(frame) == {"ok": 40, "http_5xx": 10}
    # Request i used cycle[i % 5]: the interleaving is fixed, so the statuses in schedule order are too.
    status_of = {"/healthz": 200, "/status/503": 503, "/": 200}
    cycle = shape.path_cycle("/")
    ordered = frame.sort_values("scheduled_ns")["status"].tolist()
    assert ordered == [status_of[cycle[i % len(cycle)]] for i in range(N)]


def test_the_request_on_the_wire(agents: list[LoadAgent]) -> None:
    with RecordingServer(next(_hosts)) as server:
        shape = RequestShape(method="PUT", paths=(("/items/7?v=2", 1),), body=b"qty=3",
                             headers=(("Host", "shop.example"), ("X-Trace", "abc 1")))
        plan = LoadPlan(targets=(LoadTarget("api", "ClusterIP", server.host, server.port, request=shape),),
                        rate=10.0, duration_s=0.5, connection="new-connection", timeout_s=2.0)
        report, frame = run_agent(plan, agents)
    assert report.requests == 5 and outcomes(frame) == {"ok": 5}
    assert len(server.requests) == 5
    head, body = server.requests[0].split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"PUT /items/7?v=2 HTTP/1.1"
    assert b"Host: shop.example" in lines and b"X-Trace: abc 1" in lines
    assert b"Content-Length: 5" in lines and b"Connection: close" in lines
    assert sum(line.lower().startswith(b"host:") for line in lines) == 1
    assert body == b"qty=3"


@pytest.mark.parametrize(("send", "expect", "expected"), [
    (b"PING\r\n", b"PING", "ok"),
    (b"PING\r\n", b"PONG", "tcp_unexpected_reply"),
    (b"", b"", "ok"),  # connected is success when nothing is expected
])
def test_tcp_mode_against_an_echo_service(agents: list[LoadAgent], send: bytes, expect: bytes,
                                          expected: str) -> None:
    with standin(next(_hosts), PORT, CHAOSKIT_PROTOCOL="tcp-echo") as target:
        shape = RequestShape(mode="tcp", send=send, expect=expect)
        report, frame = run_agent(plan_for(target, shape), agents)  # keepalive: tcp still connects per request
    assert report.requests == N
    assert outcomes(frame) == {expected: N}
    assert set(frame["status"]) == {0}
    assert target.stats["tcp_connections"] - target.probes == N == report.connections
    assert target.stats["tcp_bytes"] == N * len(send)


def test_tcp_mode_counts_refused_connections(agents: list[LoadAgent]) -> None:
    host = next(_hosts)
    shape = RequestShape(mode="tcp", send=b"x", expect=b"x")
    plan = LoadPlan(targets=(LoadTarget("db", "ClusterIP", host, free_port(host), request=shape),),
                    rate=RATE, duration_s=1.0, connection="new-connection", timeout_s=1.0)
    _, frame = run_agent(plan, agents)
    assert outcomes(frame) == {"refused": N}


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path)


@pytest.mark.parametrize(("how", "expected"), [
    ("good-ca", "ok"),
    ("wrong-ca", "tls_error"),
    ("wrong-name", "tls_error"),
    ("insecure", "ok"),
    ("plain-http", "reset"),  # no TLS against a TLS port: the server drops the connection
])
def test_https_verification(agents: list[LoadAgent], certs: Certs, how: str, expected: str) -> None:
    shapes = {
        "good-ca": RequestShape(https=True, ca_pem=certs.ca.read_text(), server_name="shop.example"),
        "wrong-ca": RequestShape(https=True, ca_pem=certs.other_ca.read_text(), server_name="shop.example"),
        "wrong-name": RequestShape(https=True, ca_pem=certs.ca.read_text(), server_name="other.example"),
        "insecure": RequestShape(https=True, insecure=True),
        "plain-http": RequestShape(),
    }
    with standin(next(_hosts), PORT, CHAOSKIT_TLS_CERT=str(certs.cert), CHAOSKIT_TLS_KEY=str(certs.key)) as target:
        report, frame = run_agent(plan_for(target, shapes[how], connection="new-connection"), agents)
    assert report.requests == N
    assert outcomes(frame) == {expected: N}
    served = target.requests("GET /")
    assert served == (N if expected == "ok" else 0)  # a failed handshake never reaches the application


def test_https_keepalive_reuses_tls_connections(agents: list[LoadAgent], certs: Certs) -> None:
    with standin(next(_hosts), PORT, CHAOSKIT_TLS_CERT=str(certs.cert), CHAOSKIT_TLS_KEY=str(certs.key)) as target:
        shape = RequestShape(https=True, ca_pem=certs.ca.read_text(), headers=(("Host", "shop.example:443"),))
        report, frame = run_agent(plan_for(target, shape), agents)
    # No server_name: the Host header's name is the TLS name.
    assert outcomes(frame) == {"ok": N}
    assert target.requests("GET /") == N
    assert report.connections < N


def test_a_plan_larger_than_an_environment_variable_reaches_the_agent(agents: list[LoadAgent]) -> None:
    # Three 60 KiB bodies: ~240 KB of plan JSON, past the kernel's 128 KiB cap on one variable.
    with standin(next(_hosts), PORT) as target:
        targets = tuple(LoadTarget(f"api-{i}", "ClusterIP", target.host, target.port, request=RequestShape(
            method="POST", paths=(("/echo", 1),), body=bytes([65 + i]) * 60_000)) for i in range(3))
        plan = LoadPlan(targets=targets, rate=10.0, duration_s=1.0, connection="keepalive", timeout_s=2.0)
        assert len(plan.to_json()) > 200_000
        _, frame = run_agent(plan, agents)
    assert outcomes(frame) == {"ok": 30}
    assert target.stats["echo_bytes"] == 30 * 60_000


def test_the_reachability_probe_asks_what_the_load_asks(certs: Certs) -> None:
    async def go(target: Standin, shape: RequestShape) -> str:
        return await probe(LoadTarget("api", "ClusterIP", target.host, target.port, request=shape), timeout_s=2.0)

    with standin(next(_hosts), PORT, CHAOSKIT_AUTH_TOKEN="s3cret") as http:
        auth = (("Authorization", "Bearer s3cret"),)
        assert asyncio.run(go(http, RequestShape(paths=(("/auth", 1),), headers=auth))) == ""
        assert asyncio.run(go(http, RequestShape(paths=(("/auth", 1),)))) == "HTTP 401"
        assert asyncio.run(go(http, RequestShape(paths=(("/status/302", 1),), success=((200, 299),)))) == "HTTP 302"
        assert asyncio.run(go(http, RequestShape(method="POST", paths=(("/echo", 1),), body=b"x"))) == ""
        unauthorized = LoadTarget("api", "NodePort", http.host, http.port, request=RequestShape(paths=(("/auth", 1),)))
        with pytest.raises(ClusterError, match=r"answers HTTP 401 to GET http://.*/auth") as info:
            asyncio.run(wait_reachable([unauthorized], timeout_s=0.2))
        assert "Authorization" in info.value.hint
    assert http.requests("POST /echo") == 1
    with standin(next(_hosts), PORT, CHAOSKIT_PROTOCOL="tcp-echo") as echo:
        assert asyncio.run(go(echo, RequestShape(mode="tcp", send=b"PING", expect=b"PING"))) == ""
        assert "does not start with" in asyncio.run(go(echo, RequestShape(mode="tcp", send=b"PING", expect=b"PONG")))
    with standin(next(_hosts), PORT, CHAOSKIT_TLS_CERT=str(certs.cert), CHAOSKIT_TLS_KEY=str(certs.key)) as tls:
        good = RequestShape(https=True, ca_pem=certs.ca.read_text(), server_name="shop.example")
        assert asyncio.run(go(tls, good)) == ""
        bad = RequestShape(https=True, ca_pem=certs.other_ca.read_text(), server_name="shop.example")
        assert asyncio.run(go(tls, bad)).startswith("TLS: CERTIFICATE_VERIFY_FAILED")


@pytest.mark.slow
def test_a_run_loads_each_service_with_its_own_request(tmp_path: Path) -> None:
    """Through the engine: the spec's request reaches the agent (and the reachability probe, which must
    pass for the POST-only path and the TCP service), and every request succeeds by its own rule."""
    summary, record = run(experiment("shaped"), tmp_path)
    frame = record.requests.frame()
    counts = {str(name): outcomes(group) for name, group in frame.groupby("service", observed=True)}
    assert counts == {"shaped-api": {"ok": 150}, "shaped-db": {"ok": 150}}
    api = frame[frame["service"] == "shaped-api"]
    assert set(api["status"]) == {200}
    assert summary.verdict.reasons == ()  # every SLO held
    # A conclusive PASS, unless this (busy) machine made the load agent itself fall behind, which it must say.
    assert all("the load agent" in r for r in summary.verdict.inconclusive), summary.verdict.inconclusive
