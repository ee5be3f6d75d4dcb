"""The built-in target service as a real process on 127.61.2.0/24 (plus unit tests of its parsers)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chaoskit.standin.config import ConfigError, from_env
from chaoskit.standin.http import BadRequest, parse_head, query_param
from tests.support import recv_response

PORT = 18080
_next_ip = iter(range(10, 250))


def _child_setup() -> None:
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


class Target:
    def __init__(self, process: subprocess.Popen[bytes], address: tuple[str, int]) -> None:
        self.process = process
        self.address = address

    def connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=10)

    def wait_accepting(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(self.address) == 0:
                    return
            assert self.process.poll() is None, "target exited"
            time.sleep(0.005)
        raise AssertionError("target never accepted")


StartTarget = Callable[..., Target]


@pytest.fixture
def start_target() -> Iterator[StartTarget]:
    """Starts targets on fresh addresses; every one is SIGKILLed at teardown, on failure too."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*, wait: bool = True, pass_fds: tuple[int, ...] = (), ports: tuple[int, ...] = (PORT,),
              **env: str) -> Target:
        address = (f"127.61.2.{next(_next_ip)}", ports[0])
        listen = ",".join(f"{address[0]}:{port}" for port in ports)
        full_env = {**os.environ, "CHAOSKIT_LISTEN": listen,
                    "POD_NAME": "web-1", "POD_IP": address[0], "NODE_NAME": "node-a", **env}
        process = subprocess.Popen([sys.executable, "-m", "chaoskit.standin"], env=full_env,
                                   pass_fds=pass_fds, preexec_fn=_child_setup)  # noqa: PLW1509
        started.append(process)
        target = Target(process, address)
        if wait:
            target.wait_accepting()
        return target

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _request(sock: socket.socket, method: str, path: str, *, close: bool = False,
             body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    extra = "Connection: close\r\n" if close else ""
    if body:
        extra += f"Content-Length: {len(body)}\r\n"
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode() + body)
    if method == "HEAD":
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        lines = data.split(b"\r\n\r\n")[0].decode().split("\r\n")
        return int(lines[0].split()[1]), {}, b""
    return recv_response(sock)


def _once(target: Target, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    with target.connect() as sock:
        return _request(sock, method, path, close=True)


@pytest.mark.local
def test_root_identity_and_healthz(start_target: StartTarget) -> None:
    target = start_target()
    status, headers, body = _once(target, "GET", "/")
    assert status == 200 and headers["content-type"] == "application/json"
    doc: dict[str, Any] = json.loads(body)
    assert (doc["pod"], doc["ip"], doc["node"]) == ("web-1", target.address[0], "node-a")
    assert isinstance(doc["uptime_s"], float) and doc["uptime_s"] >= 0
    assert _once(target, "GET", "/healthz")[::2] == (200, b"ok")
    assert _once(target, "HEAD", "/healthz")[0] == 200
    assert _once(target, "GET", "/nope")[0] == 404
    assert _once(target, "DELETE", "/")[0] == 405


@pytest.mark.local
def test_keep_alive_is_honoured_and_connection_close_too(start_target: StartTarget) -> None:
    target = start_target()
    with target.connect() as sock:
        uptimes = [json.loads(_request(sock, "GET", "/")[2])["uptime_s"] for _ in range(5)]
        assert uptimes == sorted(uptimes)  # five answers on one connection
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\n"
                     b"Host: t\r\n\r\n")  # pipelined
        data = b""
        while data.count(b"\r\n\r\nok") < 2:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        assert data.count(b"HTTP/1.1 200 OK\r\n") == 2 and data.endswith(b"ok")
        status, _, body = _request(sock, "POST", "/", body=b"x" * 5000)
        assert status == 200 and json.loads(body)["pod"] == "web-1"  # body read, then answered
        assert _request(sock, "POST", "/chaos/log", body=b"[]")[0] == 405
        status, headers, _ = _request(sock, "GET", "/healthz", close=True)
        assert status == 200 and headers["connection"] == "close"
        assert sock.recv(16) == b""  # the server closed it
    with target.connect() as sock:  # Expect: 100-continue (curl sends it for bodies > 1 KiB)
        sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"y" * 2048)
        assert recv_response(sock)[::2] == (200, b"ok")
    with target.connect() as sock:  # HTTP/1.0 closes by default
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert recv_response(sock)[0] == 200 and sock.recv(16) == b""


@pytest.mark.local
def test_started_fd_gets_one_byte_then_eof(start_target: StartTarget) -> None:
    read_fd, write_fd = os.pipe()
    try:
        start_target(wait=False, pass_fds=(write_fd,), CHAOSKIT_STARTED_FD=str(write_fd))
        os.close(write_fd)
        write_fd = -1
        assert select.select([read_fd], [], [], 15)[0], "no started byte"
        assert os.read(read_fd, 16) == b"s"
        assert select.select([read_fd], [], [], 15)[0]
        assert os.read(read_fd, 16) == b""  # the target closed its end
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


@pytest.mark.local
def test_startup_delay_binds_only_after_it(start_target: StartTarget) -> None:
    read_fd, write_fd = os.pipe()
    try:
        target = start_target(wait=False, pass_fds=(write_fd,), CHAOSKIT_STARTED_FD=str(write_fd),
                              CHAOSKIT_STARTUP_DELAY_S="1.5")
        os.close(write_fd)
        write_fd = -1
        assert select.select([read_fd], [], [], 15)[0] and os.read(read_fd, 1) == b"s"
        started = time.monotonic()
        with pytest.raises(ConnectionRefusedError), target.connect():
            pass
        target.wait_accepting()
        assert time.monotonic() - started >= 1.5  # a lower bound: it may not bind early
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


def _probe(address: tuple[str, int]) -> tuple[int, int, bool]:
    """(ns before, ns after, accepted?) for one connect attempt."""
    before = time.time_ns()
    with socket.socket() as sock:
        accepted = sock.connect_ex(address) == 0
    return before, time.time_ns(), accepted


@pytest.mark.local
def test_chaos_refuse_window_is_exact_and_observed(start_target: StartTarget) -> None:
    target = start_target()
    requested_ms = 400
    with target.connect() as idle, target.connect() as sock:
        assert _request(idle, "GET", "/healthz")[0] == 200
        status, _, body = _request(sock, "POST", f"/chaos/refuse?ms={requested_ms}")
        assert status == 202 and json.loads(body) == {"refuse_ms": requested_ms}
        # The first probes may still be accepted: the 202 can reach us before the target has
        # closed its listening socket. So: probe until refused, then until accepted again.
        probes = [_probe(target.address)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                probes[-1][2] and any(not p[2] for p in probes)):
            time.sleep(0.001)
            probes.append(_probe(target.address))
        probes += [_probe(target.address) for _ in range(20)]
        assert idle.recv(16) == b""  # established keep-alive connections closed at the start
    (begin_ns, end_ns), = json.loads(_once(target, "GET", "/chaos/log")[2])
    _check_window_lengths(target, (end_ns - begin_ns) / 1e6 - requested_ms)
    refused = [p for p in probes if not p[2]]
    assert len(refused) >= 10
    # The target reads the clock right after its close()/listen() calls; a preemption between
    # the two (2 shared cores) shifts the logged instant a little: allow some slack for that.
    slack = 1_000_000
    for before, after, accepted in probes:
        if accepted:  # accepted means listening at some instant of the attempt: not inside
            assert not (begin_ns + slack < before and after < end_ns - slack)
        else:  # refused means not listening at some instant: not after the window
            assert before < end_ns + slack
            assert after > begin_ns - slack
    assert probes[-1][2]  # served again after the window


def _check_window_lengths(target: Target, first_error_ms: float) -> None:
    """Two more windows: the median length error must be within 5 ms of the request. One
    outlier is tolerated up to 20 ms (the measurement path's tolerance): on 2 cores shared with
    other work, the process is now and then not scheduled for several ms when its timer fires."""
    errors = [first_error_ms]
    for windows in (2, 3):
        with target.connect() as sock:
            assert _request(sock, "POST", "/chaos/refuse?ms=200")[0] == 202
        deadline = time.monotonic() + 10
        log: list[list[int]] = []
        while len(log) < windows and time.monotonic() < deadline:
            time.sleep(0.01)
            # Refused during the window, or reset when our request raced its start.
            with contextlib.suppress(ConnectionRefusedError, ConnectionResetError,
                                     ConnectionAbortedError):
                log = json.loads(_once(target, "GET", "/chaos/log")[2])
        assert len(log) == windows
        begin_ns, end_ns = log[-1]
        errors.append((end_ns - begin_ns) / 1e6 - 200)
    assert sorted(abs(e) for e in errors)[1] <= 5, errors
    assert max(abs(e) for e in errors) <= 20, errors


@pytest.mark.local
def test_every_listen_address_serves_and_refuses_together(start_target: StartTarget) -> None:
    target = start_target(ports=(PORT, PORT + 1))
    second = Target(target.process, (target.address[0], PORT + 1))
    second.wait_accepting()
    assert _once(second, "GET", "/healthz")[::2] == (200, b"ok")
    with target.connect() as sock:
        assert _request(sock, "POST", "/chaos/refuse?ms=300")[0] == 202
    refused = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # refused on the second address, then served again
        with socket.socket() as probe:
            accepted = probe.connect_ex(second.address) == 0
        if accepted and refused:
            break
        refused += not accepted  # (accepted before any refusal: the window has not begun yet)
        time.sleep(0.005)
    assert refused > 0
    assert len(json.loads(_once(second, "GET", "/chaos/log")[2])) == 1


@pytest.mark.local
def test_chaos_refuse_rejects_bad_requests(start_target: StartTarget) -> None:
    target = start_target()
    for path in ("/chaos/refuse", "/chaos/refuse?ms=0", "/chaos/refuse?ms=abc",
                 "/chaos/refuse?ms=999999999"):
        assert _once(target, "POST", path)[0] == 400
    assert _once(target, "GET", "/chaos/refuse?ms=100")[0] == 405
    assert json.loads(_once(target, "GET", "/chaos/log")[2]) == []


@pytest.mark.local
def test_sigterm_keeps_serving_for_the_shutdown_delay_then_exits_0(
        start_target: StartTarget) -> None:
    target = start_target(CHAOSKIT_SHUTDOWN_DELAY_S="3.0")
    with target.connect() as keep:
        assert _request(keep, "GET", "/healthz")[0] == 200
        target.process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        served = 0
        while time.monotonic() - sent < 0.5:  # well inside the delay
            assert _once(target, "GET", "/healthz")[0] == 200
            assert _request(keep, "GET", "/healthz")[0] == 200
            served += 1
        assert served > 0
        assert target.process.wait(timeout=10) == 0
        assert time.monotonic() - sent >= 3.0  # a lower bound: it may not stop early
        assert keep.recv(16) == b""  # the idle keep-alive connection was closed
    with pytest.raises(ConnectionRefusedError), target.connect():
        pass


@pytest.mark.local
def test_sigterm_lets_a_begun_request_finish(start_target: StartTarget) -> None:
    target = start_target()
    with target.connect() as sock:
        # One send: a whole request and the start of a second. Once the first is answered the
        # target has read the partial second head, so that request has begun.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\n")
        assert recv_response(sock)[0] == 200
        target.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # it stopped listening: the shutdown has begun
            with socket.socket() as probe:
                if probe.connect_ex(target.address) != 0:
                    break
            time.sleep(0.005)
        sock.sendall(b"Host: t\r\n\r\n")
        status, headers, body = recv_response(sock)
        assert (status, body, headers["connection"]) == (200, b"ok", "close")
        assert sock.recv(16) == b""
    assert target.process.wait(timeout=10) == 0


@pytest.mark.local
def test_bind_failure_exits_1_and_bad_config_exits_2(start_target: StartTarget) -> None:
    with socket.socket() as holder:
        holder.bind(("127.61.2.250", PORT))
        holder.listen(1)
        busy = start_target(wait=False, CHAOSKIT_LISTEN=f"127.61.2.250:{PORT}")
        assert busy.process.wait(timeout=15) == 1
    bad = start_target(wait=False, CHAOSKIT_STARTUP_DELAY_S="soon")
    assert bad.process.wait(timeout=15) == 2


@pytest.mark.unit
def test_parse_head() -> None:
    request = parse_head(b"POST /chaos/refuse?ms=5 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                         b"Connection: Close")
    assert (request.method, request.path, request.query) == (b"POST", "/chaos/refuse", "ms=5")
    assert (request.keep_alive, request.body_length) == (False, 3)
    assert parse_head(b"GET / HTTP/1.0\r\nConnection: keep-alive").keep_alive
    assert not parse_head(b"GET / HTTP/1.0").keep_alive
    assert parse_head(b"GET / HTTP/1.1").keep_alive
    assert query_param("a=1&ms=250", "ms") == "250" and query_param("a=1", "ms") is None
    for bad, status in ((b"GET /", 400), (b"GET / HTTP/1.1\r\nno colon", 400),
                        (b"GET / HTTP/1.1\r\nContent-Length: -1", 400),
                        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked", 501)):
        with pytest.raises(BadRequest) as info:
            parse_head(bad)
        assert info.value.status == status


@pytest.mark.unit
def test_config_from_env() -> None:
    config = from_env({"CHAOSKIT_LISTEN": "127.61.0.5:10080, [::1]:81", "POD_NAME": "p",
                       "CHAOSKIT_STARTUP_DELAY_S": "0.25", "CHAOSKIT_STARTED_FD": "7"})
    assert config.listen == (("127.61.0.5", 10080), ("::1", 81))
    assert (config.pod, config.startup_delay_s, config.started_fd) == ("p", 0.25, 7)
    assert config.shutdown_delay_s == 0.0
    for env in ({}, {"CHAOSKIT_LISTEN": "nohost"}, {"CHAOSKIT_LISTEN": "h:1", "CHAOSKIT_STARTED_FD": "x"},
                {"CHAOSKIT_LISTEN": "h:1", "CHAOSKIT_SHUTDOWN_DELAY_S": "-1"},
                {"CHAOSKIT_LISTEN": "h:1", "CHAOSKIT_SHUTDOWN_DELAY_S": "nan"}):
        with pytest.raises(ConfigError):
            from_env(env)


@pytest.mark.local
def test_chaos_hang_leaves_requests_unanswered_for_exactly_the_window(start_target: StartTarget) -> None:
    target = start_target()
    status, _, body = _once(target, "POST", "/chaos/hang?ms=600")
    assert status == 202 and json.loads(body) == {"hang_ms": 600}
    (begin_ns, end_ns), = json.loads(_once(target, "GET", "/chaos/hang")[2])
    assert end_ns - begin_ns == 600_000_000
    with target.connect() as hung:
        hung.settimeout(0.3)
        hung.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        with pytest.raises(TimeoutError):  # accepted and read, never answered: the client times out
            hung.recv(1)
        assert _once(target, "GET", "/chaos/log")[0] == 200  # the controls still answer
        assert _once(target, "POST", "/chaos/hang?ms=100")[0] == 409
        while time.time_ns() < end_ns:
            time.sleep(0.01)
        assert _once(target, "GET", "/")[0] == 200  # served again after the window
        hung.settimeout(0.2)
        with pytest.raises(TimeoutError):  # what arrived during the hang stays unanswered
            hung.recv(1)
    for path in ("/chaos/hang", "/chaos/hang?ms=0", "/chaos/hang?ms=abc"):
        assert _once(target, "POST", path)[0] == 400
