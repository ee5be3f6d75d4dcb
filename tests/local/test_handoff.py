"""Hand-over mode of the Service proxy: the accepted connection goes to the pod (SCM_RIGHTS), as after DNAT."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.test_proxy import ProxyProcess, _get, _kill, _spawn, _wait_accepting

pytestmark = pytest.mark.local
TARGET = ("127.61.2.1", 18080)


@pytest.fixture
def target() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    directory = Path(tempfile.mkdtemp(prefix="chaoskit-handoff-"))  # short: a unix socket path has 108 bytes
    path = str(directory / "httpd.handoff")
    env = {**os.environ, "CHAOSKIT_LISTEN": f"{TARGET[0]}:{TARGET[1]}", "POD_NAME": "handoff-pod",
           "POD_IP": TARGET[0], "NODE_NAME": "node-0", "CHAOSKIT_HANDOFF": path}
    process = _spawn([sys.executable, "-m", "chaoskit.standin"], env=env)
    try:
        _wait_accepting(*TARGET)
        yield process, path
    finally:
        _kill(process)
        shutil.rmtree(directory, ignore_errors=True)


def _listen_handoff(proxy: ProxyProcess, path: str) -> tuple[str, int]:
    address = proxy.listen()
    reply = proxy.request(op="endpoints", id=address[0], seq=1, endpoints=[[*TARGET, path]])
    assert reply["op"] == "synced"
    return address


def test_a_handed_over_connection_no_longer_needs_the_proxy(target: tuple[subprocess.Popen[bytes], str]) -> None:
    proxy = ProxyProcess()
    try:
        address = _listen_handoff(proxy, target[1])
        with socket.create_connection(address, timeout=5) as sock:
            status, body = _get(sock)
            assert status == 200 and b"handoff-pod" in body
            proxy.process.send_signal(signal.SIGKILL)  # the data path is client <-> pod now
            proxy.process.wait(10)
            status, body = _get(sock)
            assert status == 200 and b"handoff-pod" in body
    finally:
        _kill(proxy.process)


def test_a_dead_pod_means_a_reset_not_a_hang(target: tuple[subprocess.Popen[bytes], str]) -> None:
    process, path = target
    proxy = ProxyProcess()
    try:
        address = _listen_handoff(proxy, path)
        _kill(process)  # still in the endpoint set (propagation), but gone
        # The reset may reach the client before its connect() returns (a busy machine schedules the client
        # late): then connect itself reports it. Either way it is a reset within the timeout, not a hang.
        with pytest.raises(ConnectionResetError), socket.create_connection(address, timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(1024)
    finally:
        _kill(proxy.process)


def test_the_pod_dying_breaks_its_handed_over_connections(target: tuple[subprocess.Popen[bytes], str]) -> None:
    process, path = target
    proxy = ProxyProcess()
    try:
        address = _listen_handoff(proxy, path)
        with socket.create_connection(address, timeout=5) as sock:
            assert _get(sock)[0] == 200
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            try:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                data = sock.recv(1024)
            except OSError:  # reset or broken pipe
                data = b""
            assert data == b"", "a dead pod answered"
    finally:
        _kill(proxy.process)
