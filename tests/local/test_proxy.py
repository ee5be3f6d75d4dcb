"""The Service proxy process against real target processes on 127.61.1.0/24 (real sockets, no fakes)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import recv_response

pytestmark = pytest.mark.local

TARGET_PORT = 18080
TARGETS = [("127.61.1.1", TARGET_PORT), ("127.61.1.2", TARGET_PORT), ("127.61.1.3", TARGET_PORT)]
DEAD = ("127.61.1.9", TARGET_PORT)  # nothing ever listens here
_next_listener = iter(range(10, 250))


def _child_setup() -> None:
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, preexec_fn=_child_setup, **kwargs)  # noqa: PLW1509


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def _wait_accepting(host: str, port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.01)
    raise AssertionError(f"{host}:{port} never accepted")


class ProxyProcess:
    """The proxy under test, with its control channel."""

    def __init__(self) -> None:
        self.process = _spawn([sys.executable, "-m", "chaoskit.cluster.local.proxy"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._buffer = b""

    def send(self, **message: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def reply(self, timeout_s: float = 10.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, "no reply from the proxy"
            chunk = os.read(fd, 65536)
            assert chunk, "proxy closed stdout"
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        result: dict[str, Any] = json.loads(line)
        return result

    def request(self, **message: Any) -> dict[str, Any]:
        self.send(**message)
        return self.reply()

    def listen(self, endpoints: list[tuple[str, int]] | None = None) -> tuple[str, int]:
        """A new listener (own address); with ``endpoints`` set and synced."""
        address = (f"127.61.1.{next(_next_listener)}", 18081)  # not a NodePort: see proxy/firewall.py
        lid = address[0]
        assert self.request(op="listen", id=lid, host=address[0], port=address[1]) == {
            "op": "listening", "id": lid}
        if endpoints is not None:
            self.set_endpoints(address, endpoints, seq=1)
        return address

    def set_endpoints(self, address: tuple[str, int], endpoints: list[tuple[str, int]], *,
                      seq: int) -> int:
        before = time.time_ns()
        reply = self.request(op="endpoints", id=address[0], seq=seq,
                             endpoints=[list(e) for e in endpoints])
        assert reply["op"] == "synced" and reply["id"] == address[0] and reply["seq"] == seq
        assert before <= reply["ts_ns"] <= time.time_ns()
        ts: int = reply["ts_ns"]
        return ts


@pytest.fixture(scope="module")
def targets() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = []
    try:
        for i, (host, port) in enumerate(TARGETS):
            env = {**os.environ, "CHAOSKIT_LISTEN": f"{host}:{port}", "POD_NAME": f"pod-{i}",
                   "POD_IP": host, "NODE_NAME": "node-0"}
            processes.append(_spawn([sys.executable, "-m", "chaoskit.standin"], env=env))
        for host, port in TARGETS:
            _wait_accepting(host, port)
        yield processes
    finally:
        for process in processes:
            _kill(process)


@pytest.fixture
def proxy(targets: list[subprocess.Popen[bytes]]) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess()
    try:
        yield proxy
    finally:
        _kill(proxy.process)


def _get(sock: socket.socket, path: str = "/", *, close: bool = False) -> tuple[int, bytes]:
    extra = "Connection: close\r\n" if close else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode())
    status, _, body = recv_response(sock)
    return status, body


def _pod_via(address: tuple[str, int]) -> str:
    with socket.create_connection(address, timeout=10) as sock:
        status, body = _get(sock, close=True)
        assert status == 200
        pod: str = json.loads(body)["pod"]
        return pod


def test_new_connections_spread_over_endpoints(proxy: ProxyProcess) -> None:
    address = proxy.listen([TARGETS[0], TARGETS[1]])
    seen = [_pod_via(address) for _ in range(60)]
    # Uniform choice: 60 connections all on one of two endpoints has probability 2 * 2**-60.
    assert set(seen) == {"pod-0", "pod-1"}
    assert min(seen.count("pod-0"), seen.count("pod-1")) >= 10  # P(fail) < 1e-5 for a fair pick


def test_empty_endpoint_set_refuses_connections(proxy: ProxyProcess) -> None:
    address = proxy.listen()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(address, timeout=5):
        pass
    proxy.set_endpoints(address, [TARGETS[0]], seq=1)
    assert _pod_via(address) == "pod-0"
    proxy.set_endpoints(address, [], seq=2)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(address, timeout=5):
        pass
    proxy.set_endpoints(address, [TARGETS[2]], seq=3)
    assert _pod_via(address) == "pod-2"
    before = _settled_fd_count(proxy.process.pid)
    for seq in range(4, 44, 2):  # empty <-> non-empty cycles leave no fd behind
        proxy.set_endpoints(address, [], seq=seq)
        proxy.set_endpoints(address, [TARGETS[1]], seq=seq + 1)
    assert _pod_via(address) == "pod-1"
    assert _settled_fd_count(proxy.process.pid) == before


def test_endpoint_changes_keep_established_connections(proxy: ProxyProcess) -> None:
    address = proxy.listen([TARGETS[0]])
    with socket.create_connection(address, timeout=10) as sock:
        assert json.loads(_get(sock)[1])["pod"] == "pod-0"
        proxy.set_endpoints(address, [TARGETS[1]], seq=2)
        assert _pod_via(address) == "pod-1"  # new connections follow the new set
        assert json.loads(_get(sock)[1])["pod"] == "pod-0"  # this one stays (conntrack)
        proxy.set_endpoints(address, [], seq=3)
        assert json.loads(_get(sock)[1])["pod"] == "pod-0"  # even with no endpoints left
        proxy.set_endpoints(address, [TARGETS[2]], seq=4)  # listening again beside it
        assert _pod_via(address) == "pod-2"
        assert _get(sock, close=True)[0] == 200


def test_dead_backend_in_the_set_resets_the_client(proxy: ProxyProcess) -> None:
    address = proxy.listen([DEAD])
    for _ in range(5):
        # A reset: not a hang (the timeout would raise TimeoutError), not data, not an EOF. The
        # proxy resets so soon after accepting that the client may see it when connect() returns.
        with pytest.raises(ConnectionResetError), \
                socket.create_connection(address, timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            data = sock.recv(1024)
            pytest.fail(f"expected a reset, got {data!r}")


def test_backend_closing_closes_the_client_side(proxy: ProxyProcess) -> None:
    address = proxy.listen([TARGETS[0]])
    with socket.create_connection(address, timeout=10) as sock:
        assert _get(sock, close=True)[0] == 200
        assert sock.recv(1024) == b""  # the target's FIN was relayed


def test_half_closed_client_still_gets_its_response(proxy: ProxyProcess) -> None:
    address = proxy.listen([TARGETS[0]])
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        status, _, body = recv_response(sock)
        assert (status, body) == (200, b"ok")
        assert sock.recv(1024) == b""


def test_large_request_body_is_relayed_whole(proxy: ProxyProcess) -> None:
    address = proxy.listen([TARGETS[0]])
    body = b"x" * (8 * 1024 * 1024)  # far above socket buffers: pause/resume has to work
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(b"POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
        sock.sendall(body)
        assert recv_response(sock)[0] == 404  # answered only once the whole body arrived
        assert _get(sock, "/healthz", close=True) == (200, b"ok")


def test_close_listener_resets_its_connections_and_refuses(proxy: ProxyProcess) -> None:
    address = proxy.listen([TARGETS[0]])
    with socket.create_connection(address, timeout=10) as sock:
        assert _get(sock)[0] == 200
        assert proxy.request(op="close", id=address[0]) == {"op": "closed", "id": address[0]}
        with pytest.raises(ConnectionResetError):
            data = sock.recv(1024)
            pytest.fail(f"expected a reset, got {data!r}")
    with pytest.raises(ConnectionRefusedError), socket.create_connection(address, timeout=5):
        pass
    assert proxy.request(op="close", id=address[0]) == {"op": "closed", "id": address[0]}


def test_listen_on_an_address_in_use_is_an_error(proxy: ProxyProcess) -> None:
    with socket.socket() as holder:
        holder.bind(("127.61.1.250", 30080))
        holder.listen(1)
        reply = proxy.request(op="listen", id="busy", host="127.61.1.250", port=30080)
    assert reply["op"] == "error" and reply["id"] == "busy"
    assert "in use" in reply["message"]


def test_bad_control_lines_get_error_replies(proxy: ProxyProcess) -> None:
    assert proxy.request(op="endpoints", id="nope", seq=1, endpoints=[])["op"] == "error"
    address = proxy.listen()
    reply = proxy.request(op="endpoints", id=address[0], seq=1, endpoints=[["127.61.1.1", 0]])
    assert reply["op"] == "error" and "bad endpoint" in reply["message"]
    reply = proxy.request(op="endpoints", id=address[0], endpoints=[])
    assert reply["op"] == "error" and "seq" in reply["message"]
    assert proxy.request(op="listen", id="bad", host="127.61.1.252", port="80")["op"] == "error"
    assert proxy.request(op="listen", id="bad", host="localhost", port=80)["op"] == "error"
    reply = proxy.request(op="endpoints", id=address[0], seq=2, endpoints=[["example.org", 80]])
    assert reply["op"] == "error"  # names are refused: no resolver (or network) on the data path
    assert proxy.request(op="listen", id=address[0], host=address[0], port=address[1])["op"] == \
        "error"
    proxy.send(op="frobnicate", id="x")
    assert proxy.reply()["op"] == "error"


@pytest.mark.parametrize("how", ["stdin_eof", "sigterm"])
def test_proxy_exits_cleanly(targets: list[subprocess.Popen[bytes]], how: str) -> None:
    proxy = ProxyProcess()
    try:
        address = proxy.listen([TARGETS[0]])
        with socket.create_connection(address, timeout=10) as sock:
            assert _get(sock)[0] == 200
            if how == "stdin_eof":
                assert proxy.process.stdin is not None
                proxy.process.stdin.close()
            else:
                proxy.process.send_signal(signal.SIGTERM)
            assert proxy.process.wait(timeout=10) == 0
            with pytest.raises(ConnectionResetError):  # its connections were reset on the way out
                data = sock.recv(1024)
                pytest.fail(f"expected a reset, got {data!r}")
        with pytest.raises(ProcessLookupError):
            os.killpg(proxy.process.pid, 0)  # nothing left in its process group
        with pytest.raises(ConnectionRefusedError), socket.create_connection(address, timeout=5):
            pass
    finally:
        _kill(proxy.process)


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _settled_fd_count(pid: int) -> int:
    """The fd count once closes in flight have run (unchanged across 100 ms, within 10 s)."""
    count, deadline = _fd_count(pid), time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.1)
        previous, count = count, _fd_count(pid)
        if count == previous:
            break
    return count


def test_no_fd_leak_after_half_closed_connections(proxy: ProxyProcess) -> None:
    address = proxy.listen([TARGETS[0], TARGETS[1]])
    assert _pod_via(address) in ("pod-0", "pod-1")  # warm up (lazy allocations)
    before = _settled_fd_count(proxy.process.pid)
    for _ in range(500):
        with socket.create_connection(address, timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            assert recv_response(sock)[0] == 200
            assert sock.recv(16) == b""
    assert _settled_fd_count(proxy.process.pid) == before



def test_connections_queued_before_endpoints_go_empty_are_served(
        targets: list[subprocess.Popen[bytes]]) -> None:
    """In-process, so the loop provably has not accepted them yet: their handshake completed
    before the change, so (as with DNAT at SYN time) they go to the old endpoints."""
    import asyncio

    import uvloop

    from chaoskit.cluster.local.proxy.listener import Listener

    async def scenario() -> list[bytes]:
        loop = asyncio.get_running_loop()
        listener = Listener("q", "127.61.1.251", 30080)
        listener.bind()
        await listener.set_endpoints((TARGETS[0],))
        clients = []
        try:
            for _ in range(5):
                sock = socket.socket()
                sock.setblocking(False)
                assert sock.connect_ex(("127.61.1.251", 30080)) in (0, errno.EINPROGRESS)
                clients.append(sock)
            await listener.set_endpoints(())  # no await point before the listener closes
            replies = []
            for sock in clients:
                await loop.sock_sendall(sock, b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
                                              b"Connection: close\r\n\r\n")
                reply = b""
                while chunk := await asyncio.wait_for(loop.sock_recv(sock, 4096), 10):
                    reply += chunk
                replies.append(reply)
            with pytest.raises(ConnectionRefusedError), \
                    socket.create_connection(("127.61.1.251", 30080), timeout=5):
                pass
            return replies
        finally:
            for sock in clients:
                sock.close()
            listener.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        replies = runner.run(scenario())
    assert all(r.startswith(b"HTTP/1.1 200 ") and r.endswith(b"ok") for r in replies), replies


def test_slow_client_backpressures_the_backend(proxy: ProxyProcess) -> None:
    """A client that does not read stalls the backend's sends instead of filling proxy memory;
    once it reads, everything arrives."""
    import threading

    total = 256 * 1024 * 1024
    sent = [0]
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of a rerun
        server.bind(("127.61.1.253", 18090))
        server.listen(1)

        def backend() -> None:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(1.0)  # stalled this long: the backpressure reached us
                chunk = b"z" * 65536
                with contextlib.suppress(TimeoutError):
                    while sent[0] < total:
                        sent[0] += conn.send(chunk)
                stalled_at = sent[0]
                conn.settimeout(60)
                while sent[0] < stalled_at + 1024 * 1024:  # a little more, then end
                    sent[0] += conn.send(chunk)

        thread = threading.Thread(target=backend, daemon=True)
        thread.start()
        address = proxy.listen([("127.61.1.253", 18090)])
        with socket.create_connection(address, timeout=60) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            deadline = time.monotonic() + 60
            while thread.is_alive() and sent[0] < total and time.monotonic() < deadline:
                time.sleep(0.05)
                if sent[0] and not _grew(sent, 1.5):
                    break
            assert sent[0] < total // 4  # bounded by socket buffers, not by proxy memory
            received = 0
            while chunk := client.recv(1 << 20):
                received += len(chunk)
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert received == sent[0]


def _grew(counter: list[int], wait_s: float) -> bool:
    before = counter[0]
    time.sleep(wait_s)
    return counter[0] != before
