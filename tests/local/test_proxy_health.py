"""The proxy's own health (accept-queue drops, hand-over timeouts) and a burst with no client error."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.cluster.local.proxy.handoff import HandoffSender
from chaoskit.cluster.local.proxy.health import socket_drops
from tests.local.test_proxy import ProxyProcess, _kill, _spawn, _wait_accepting

pytestmark = pytest.mark.local
TARGET = ("127.61.6.1", 18080)
_next_ip = iter(range(10, 250))


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    """A built-in target that also takes hand-overs; yields its hand-over socket path."""
    path = str(Path(tempfile.mkdtemp(prefix="chaoskit-health-")) / "httpd.handoff")
    env = {**os.environ, "CHAOSKIT_LISTEN": f"{TARGET[0]}:{TARGET[1]}", "POD_NAME": "health-pod",
           "POD_IP": TARGET[0], "NODE_NAME": "node-0", "CHAOSKIT_HANDOFF": path}
    process = _spawn([sys.executable, "-m", "chaoskit.standin"], env=env)
    try:
        _wait_accepting(*TARGET)
        yield path
    finally:
        _kill(process)


def _listen(proxy: ProxyProcess, endpoint: list[object], **extra: object) -> tuple[str, int]:
    address = (f"127.61.6.{next(_next_ip)}", 18081)
    assert proxy.request(op="listen", id=address[0], host=address[0], port=address[1], **extra)["op"] == "listening"
    assert proxy.request(op="endpoints", id=address[0], seq=1, endpoints=[endpoint])["op"] == "synced"
    return address


def _overflow(proxy: ProxyProcess, address: tuple[str, int], clients: list[socket.socket]) -> None:
    """Connect 8 times while the proxy is stopped: a backlog of 1 cannot queue them all."""
    proxy.process.send_signal(signal.SIGSTOP)
    try:
        for _ in range(8):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(address)
            clients.append(client)
        time.sleep(0.3)
    finally:
        proxy.process.send_signal(signal.SIGCONT)


def test_a_full_accept_queue_is_reported_as_the_proxys_own_drops(target: str) -> None:
    proxy = ProxyProcess()
    clients: list[socket.socket] = []
    try:
        address = _listen(proxy, list(TARGET), backlog=1)
        first = proxy.request(op="health", id="proxy", every_s=0.1)
        assert first["op"] == "health" and first["listen_drops"] == 0 and first["handoff_timeouts"] == 0
        _overflow(proxy, address, clients)
        report = proxy.reply(timeout_s=10)
        assert report["op"] == "health" and report["listen_drops"] >= 1, report
        assert report["ts_ns"] > first["ts_ns"]
    finally:
        for client in clients:
            client.close()
        _kill(proxy.process)


def test_health_is_sent_only_when_asked(target: str) -> None:
    proxy = ProxyProcess()
    clients: list[socket.socket] = []
    try:
        address = _listen(proxy, list(TARGET), backlog=1)
        _overflow(proxy, address, clients)
        time.sleep(1.5)  # a health report, had one been asked for, would have been sent by now
        assert proxy.request(op="close", id=address[0]) == {"op": "closed", "id": address[0]}
        assert proxy.request(op="health", id="proxy", every_s=0)["op"] == "error"
    finally:
        for client in clients:
            client.close()
        _kill(proxy.process)


def test_a_pod_that_takes_no_hand_over_counts_a_timeout_not_a_refusal(tmp_path: Path) -> None:
    path = str(tmp_path / "deaf.handoff")
    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deaf.bind(path)
    deaf.listen(1)
    sender = HandoffSender()
    accepted: list[socket.socket] = []
    try:
        with socket.socket() as payload:
            sent = 0
            while sender.send(path, payload.fileno()):  # the pod accepts but never reads: its buffer fills
                if not accepted:
                    accepted.append(deaf.accept()[0])
                sent += 1
                assert sent < 100_000
        assert sender.failed.timeouts == 1 and sender.failed.refused == 0
        deaf.close()
        os.unlink(path)
        with socket.socket() as payload:
            assert not sender.send(path, payload.fileno())
        assert sender.failed.refused == 1
    finally:
        for conn in accepted:
            conn.close()
        deaf.close()


def test_socket_drops_counts_a_listeners_overflow() -> None:
    with socket.socket() as server:
        server.bind(("127.61.6.250", 0))
        server.listen(1)
        assert socket_drops(server) == 0
        clients = [socket.socket() for _ in range(5)]
        try:
            for client in clients:
                client.setblocking(False)
                client.connect_ex(server.getsockname())
            time.sleep(0.2)
            assert socket_drops(server) >= 1
        finally:
            for client in clients:
                client.close()


async def _burst(address: tuple[str, int], count: int, concurrency: int) -> Counter[str]:
    """``count`` requests, each on a new connection, ``concurrency`` at a time; outcomes by kind."""
    outcomes: Counter[str] = Counter()
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    todo = iter(range(count))

    async def worker() -> None:
        for _ in todo:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 10)
                writer.write(request)
                answer = await asyncio.wait_for(reader.read(), 10)
                writer.close()
                outcomes["ok" if answer.startswith(b"HTTP/1.1 200 ") else "bad response"] += 1
            except ConnectionRefusedError:
                outcomes["refused"] += 1
            except ConnectionResetError:
                outcomes["reset"] += 1
            except TimeoutError:
                outcomes["timeout"] += 1
            except OSError as exc:
                outcomes[f"error {exc.errno}"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["relay", "hand-over"])
def test_a_burst_of_new_connections_gets_no_client_error(target: str, mode: str) -> None:
    """20,000 new connections, 200 at a time: every one answered (no refused, reset or timeout)."""
    proxy = ProxyProcess()
    try:
        address = _listen(proxy, [*TARGET, target] if mode == "hand-over" else list(TARGET))
        outcomes = asyncio.run(_burst(address, 20_000, 200))
        assert outcomes == Counter(ok=20_000)
    finally:
        _kill(proxy.process)
