"""Request shapes in the load plan and on the wire, and the outcome codes that saved runs depend on."""

from __future__ import annotations

import json

import pytest

from chaoskit.load.decode import decode
from chaoskit.load.plan import LoadPlan, LoadTarget, PlanError
from chaoskit.load.records import OUTCOME_LABELS, RECORD, Outcome
from chaoskit.load.shape import PLAIN_GET, RequestShape, http_request

pytestmark = pytest.mark.unit

POST = RequestShape(method="POST", paths=(("/orders", 2), ("/cart", 1)), body=b"\x00\xffbinary",
                    headers=(("Authorization", "Bearer t"),), success=((200, 299),), https=True, insecure=True)


def plan(*targets: LoadTarget) -> LoadPlan:
    return LoadPlan(targets=targets, rate=10.0, duration_s=1.0, connection="keepalive", timeout_s=1.0)


def test_outcome_codes_are_appended_never_renumbered() -> None:
    """Saved runs hold these numbers: the first nine are those of every run recorded so far."""
    assert [(o.label, int(o)) for o in Outcome] == [
        ("ok", 0), ("http_5xx", 1), ("http_4xx", 2), ("refused", 3), ("reset", 4), ("timeout", 5),
        ("connect_timeout", 6), ("error", 7), ("agent_saturated", 8),
        ("http_other", 9), ("tcp_unexpected_reply", 10), ("tls_error", 11)]
    assert RECORD.size == 24


def test_new_outcomes_decode() -> None:
    p = plan(LoadTarget("web", "ClusterIP", "127.0.0.1", 80))
    buf = b"".join(RECORD.pack(i, i, 5, 0, code, status) for i, (code, status) in enumerate(
        [(Outcome.HTTP_OTHER, 302), (Outcome.TCP_UNEXPECTED_REPLY, 0), (Outcome.TLS_ERROR, 0)]))
    frame = decode(buf, p)
    assert frame["outcome"].tolist() == ["http_other", "tcp_unexpected_reply", "tls_error"]
    assert not frame["ok"].any()
    assert list(frame["outcome"].cat.categories) == list(OUTCOME_LABELS)


def test_plan_json_carries_each_shape_once() -> None:
    targets = (LoadTarget("api", "NodePort", "127.0.0.1", 30080, node="n1", request=POST),
               LoadTarget("api", "NodePort", "127.0.0.2", 30080, node="n2", request=POST),
               LoadTarget("web", "ClusterIP", "127.0.0.3", 80))
    original = plan(*targets)
    raw = json.loads(original.to_json())
    assert len(raw["requests"]) == 2 and [t["request"] for t in raw["targets"]] == [0, 0, 1]
    assert LoadPlan.from_json(original.to_json()) == original


def test_a_plan_without_shapes_reads_as_plain_gets() -> None:
    """The JSON of plans written before shapes existed (the manifest template's example, say)."""
    old = ('{"targets":[{"service":"web","service_type":"ClusterIP","host":"10.0.0.1","port":80,"path":"/x"}],'
           '"rate":5.0,"duration_s":1.0,"connection":"keepalive","timeout_s":1.0,"start_at_ns":null,"records":true}')
    (target,) = LoadPlan.from_json(old).targets
    assert target.request == PLAIN_GET and target.path == "/x"


@pytest.mark.parametrize(("shape", "message"), [
    (RequestShape(body=b"x"), "body: GET requests carry no body"),
    (RequestShape(headers=(("X-A", "1\r\nX-B: 2"),)), "line break"),
    (RequestShape(headers=(("Connection", "close"),)), "set by chaoskit"),
    (RequestShape(mode="tcp", https=True), "https: not with mode tcp"),
    (RequestShape(paths=(("no-slash", 1),)), "must start with '/'"),
    (RequestShape(success=((200, 700),)), "within 100-599"),
])
def test_the_plan_refuses_a_shape_it_cannot_send(shape: RequestShape, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan(LoadTarget("web", "ClusterIP", "127.0.0.1", 80, request=shape))


def test_a_plain_get_on_the_wire() -> None:
    assert http_request(PLAIN_GET, "10.0.0.1", 80, "/x", keepalive=True) == (
        b"GET /x HTTP/1.1\r\nHost: 10.0.0.1:80\r\nUser-Agent: chaoskit-load\r\nConnection: keep-alive\r\n\r\n")
    assert http_request(PLAIN_GET, "::1", 80, "/", keepalive=False).startswith(
        b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n")


def test_a_shaped_request_on_the_wire() -> None:
    shape = RequestShape(method="DELETE", headers=(("host", "shop.example"), ("User-Agent", "me")))
    assert http_request(shape, "10.0.0.1", 80, "/items/1", keepalive=False) == (
        b"DELETE /items/1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: me\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n")
    wire = http_request(POST, "10.0.0.1", 443, "/orders", keepalive=True)
    assert wire.endswith(b"Content-Length: 8\r\nConnection: keep-alive\r\n\r\n\x00\xffbinary")


@pytest.mark.parametrize(("headers", "server_name", "expected"), [
    ((), "", "10.0.0.1"),
    ((("Host", "shop.example:8443"),), "", "shop.example"),
    ((("Host", "[fd00::1]:443"),), "", "fd00::1"),
    ((("Host", "shop.example"),), "api.example", "api.example"),
])
def test_the_tls_name(headers: tuple[tuple[str, str], ...], server_name: str, expected: str) -> None:
    shape = RequestShape(https=True, headers=headers, server_name=server_name)
    assert shape.tls_server_name("10.0.0.1") == expected


def test_weighted_paths_interleave_smoothly() -> None:
    shape = RequestShape(paths=(("/a", 5), ("/b", 1), ("/c", 1)))
    assert shape.path_cycle("/") == ("/a", "/a", "/b", "/a", "/c", "/a", "/a")
    assert RequestShape().path_cycle("/default") == ("/default",)
