"""A real Prometheus and Pushgateway on loopback for the tests: start, wait (bounded), query, stop by PID."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

HOST = "127.0.0.1"
SCRAPE_INTERVAL_S = 1
LIVE_JOB = "chaoskit-live"
PR_SET_PDEATHSIG = 1
T = TypeVar("T")


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} not installed (scripts/install-system-deps installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI a missing server must not pass as a skip
        pytest.skip(message)
    return path


def free_port(host: str = HOST) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _child_setup() -> None:
    """In the child before exec: SIGKILL when the test process dies (it has its own session already)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@contextmanager
def process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, stopped (TERM, then KILL) by its PID on every exit path."""
    with log.open("wb") as out:
        # preexec_fn only calls prctl (no locks, no allocation by Python objects shared with threads).
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, preexec_fn=_child_setup)  # noqa: PLW1509
    try:
        yield child
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def poll(what: str, probe: Callable[[], T | None], *, timeout_s: float, every_s: float = 0.2) -> T:
    """The first non-None result of ``probe``; fails the test after ``timeout_s`` saying what never came."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout_s:g} s waiting for {what}")
        time.sleep(every_s)


def http_ok(url: str) -> bool | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return True if reply.status == 200 else None
    except (OSError, urllib.error.URLError):
        return None


@dataclass
class Prometheus:
    url: str
    targets_file: Path

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as reply:
            body = json.load(reply)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, *, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        result: list[dict[str, Any]] = self.api("query", **params)["result"]
        return result

    def query_range(self, expr: str, *, start: float, end: float, step_s: float = 1.0) -> list[dict[str, Any]]:
        data = self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step_s:g}")
        result: list[dict[str, Any]] = data["result"]
        return result

    def scrape(self, targets: list[str]) -> None:
        """Point the live job at these host:port targets (file service discovery, picked up on change)."""
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": targets}]), encoding="utf-8")
        tmp.replace(self.targets_file)

    def wait_target_up(self, target: str, *, timeout_s: float = 30.0) -> None:
        def up() -> bool | None:
            active = self.api("targets", state="active")["activeTargets"]
            return True if any(t["labels"].get("instance") == target and t["health"] == "up" for t in active) else None

        poll(f"Prometheus to scrape {target}", up, timeout_s=timeout_s, every_s=0.5)


def prometheus_config(targets_file: Path, pushgateway: str) -> str:
    return json.dumps({  # JSON is YAML: no YAML writer needed
        "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s", "evaluation_interval": f"{SCRAPE_INTERVAL_S}s"},
        "scrape_configs": [
            {"job_name": LIVE_JOB, "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "1s"}]},
            {"job_name": "pushgateway", "honor_labels": True, "static_configs": [{"targets": [pushgateway]}]},
        ],
    }, indent=2)


@contextmanager
def stack(tmp: Path) -> Iterator[tuple[Prometheus, str]]:
    """Pushgateway + Prometheus on 127.0.0.1 (free ports, data in ``tmp``); yields (Prometheus, gateway URL)."""
    prometheus, pushgateway = need("prometheus"), need("prometheus-pushgateway")
    gw_addr, prom_addr = f"{HOST}:{free_port()}", f"{HOST}:{free_port()}"
    targets_file = tmp / "live-targets.json"
    targets_file.write_text("[]", encoding="utf-8")
    config = tmp / "prometheus.yml"
    config.write_text(prometheus_config(targets_file, gw_addr), encoding="utf-8")
    with (process([pushgateway, f"--web.listen-address={gw_addr}"], tmp / "pushgateway.log"),
          process([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
                   f"--web.listen-address={prom_addr}", "--log.level=warn"], tmp / "prometheus.log")):
        gateway_url = f"http://{gw_addr}"
        poll("the Pushgateway to be ready", lambda: http_ok(f"{gateway_url}/-/ready"), timeout_s=30)
        prom = Prometheus(f"http://{prom_addr}", targets_file)
        poll("Prometheus to be ready", lambda: http_ok(f"{prom.url}/-/ready"), timeout_s=60)
        prom.wait_target_up(gw_addr)  # the first scrape lands ~6 s after start (FINDINGS.md)
        yield prom, gateway_url
