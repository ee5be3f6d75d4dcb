"""Service proxy overhead: the target served directly vs through the proxy, measured side by side.

Run: .venv/bin/python bench/bench_proxy.py [--rounds 3] [--seconds 5] [--requests 20000]
Needs wrk and ab (Debian: apt-get install wrk apache2-utils). Traffic stays on 127.61.3.0/24.
Keep-alive: ``wrk -t1 -c50``; new connection per request: ``ab -c50`` (HTTP/1.0, no keep-alive).
Each round runs direct then proxied back to back; medians over the rounds are compared.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

TARGET = ("127.61.3.1", 18080)
PROXY = ("127.61.3.100", 18081)
"""Not a NodePort (30000-32767): a kube-proxy on this host (the test bed's) REJECTs every local address on
the nodePort of a Service without endpoints, and its shipped target uses 30080 (docs/architecture.md)."""
PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv: Sequence[str], *, env: dict[str, str] | None = None,
          stdin: int | None = None, stdout: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, stdin=stdin, stdout=stdout,
                            preexec_fn=_child_setup)  # noqa: PLW1509 - no threads here


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    import socket
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.02)
    raise SystemExit(f"{host}:{port} never accepted a connection")


def start_proxy(handoff_path: str | None) -> subprocess.Popen[bytes]:
    """A proxy process with one listener (PROXY) to the target: relaying, or handing connections over."""
    proxy = spawn([sys.executable, "-m", "chaoskit.cluster.local.proxy"],
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proxy.stdin is not None and proxy.stdout is not None
    endpoint = [*TARGET, handoff_path] if handoff_path else list(TARGET)
    for message in ({"op": "listen", "id": "B", "host": PROXY[0], "port": PROXY[1]},
                    {"op": "endpoints", "id": "B", "seq": 1, "endpoints": [endpoint]}):
        proxy.stdin.write(json.dumps(message).encode() + b"\n")
        proxy.stdin.flush()
        reply = json.loads(proxy.stdout.readline())
        if reply["op"] == "error":
            raise SystemExit(f"proxy: {reply['message']}")
    return proxy


def run_wrk(url: str, seconds: float) -> tuple[float, int]:
    """(requests/s, requests done) of ``wrk -t1 -c50`` (keep-alive)."""
    out = subprocess.run(["wrk", "-t1", "-c50", f"-d{seconds:g}s", url], capture_output=True,
                         text=True, check=True, timeout=seconds + 30).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        raise SystemExit(f"wrk saw errors: {errors.group(0)}")
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), done  # type: ignore[union-attr]


def run_ab(url: str, requests: int) -> tuple[float, int]:
    """(requests/s, requests done) of ``ab -c50`` (HTTP/1.0: a new connection per request)."""
    out = subprocess.run(["ab", "-q", "-c50", f"-n{requests}", url], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    if failed:
        raise SystemExit(f"ab saw {failed} failed requests")
    rate = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rate, requests


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of the processes so far (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


class Side:
    """Throughput and server-side CPU cost per request of one way in (direct or proxied)."""

    def __init__(self, url: str, pids: Sequence[int]) -> None:
        self.url = url
        self.pids = pids
        self.rates: list[float] = []
        self.cpu_us: list[float] = []

    def run(self, workload: Callable[[str], tuple[float, int]]) -> None:
        before = cpu_seconds(self.pids)
        rate, done = workload(self.url)
        self.rates.append(rate)
        self.cpu_us.append((cpu_seconds(self.pids) - before) / done * 1e6)


def measure(name: str, workload: Callable[[str], tuple[float, int]], rounds: int,
            direct: Side, proxied: Side) -> list[float]:
    """Alternate direct and proxied runs; returns the per-round throughput ratios."""
    for i in range(rounds):
        direct.run(workload)
        proxied.run(workload)
        print(f"  {name} round {i + 1}: direct {direct.rates[-1]:8.0f}/s "
              f"({direct.cpu_us[-1]:5.1f} us CPU/req)  proxied {proxied.rates[-1]:8.0f}/s "
              f"({proxied.cpu_us[-1]:5.1f} us CPU/req)  ratio "
              f"{proxied.rates[-1] / direct.rates[-1]:.2f}", flush=True)
    return [p / d for d, p in zip(direct.rates, proxied.rates, strict=True)]


def report(label: str, goal: float, direct: Side, proxied: Side, ratios: list[float]) -> None:
    med = statistics.median
    print(f"| {label} | {med(direct.rates):.0f} | {med(proxied.rates):.0f} | "
          f"{med(proxied.rates) / med(direct.rates):.2f} | {med(ratios):.2f} | >= {goal} | "
          f"{med(direct.cpu_us):.1f} | {med(proxied.cpu_us):.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk duration per run")
    parser.add_argument("--requests", type=int, default=20000, help="ab requests per run")
    args = parser.parse_args()
    for tool in ("wrk", "ab"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install wrk apache2-utils")
    handoff_path = tempfile.mktemp(prefix="chaoskit-bench-", suffix=".handoff")
    env = {**os.environ, "CHAOSKIT_LISTEN": f"{TARGET[0]}:{TARGET[1]}", "POD_NAME": "bench",
           "CHAOSKIT_HANDOFF": handoff_path}
    target = spawn([sys.executable, "-m", "chaoskit.standin"], env=env)
    proxy = None
    try:
        wait_port(*TARGET)
        direct_url = f"http://{TARGET[0]}:{TARGET[1]}/healthz"
        results = []
        for mode, path in (("relay", None), ("hand-over", handoff_path)):
            proxy = start_proxy(path)
            wait_port(*PROXY)
            for label, goal, workload in (
                    ("keep-alive, wrk -t1 -c50", 0.6, lambda u: run_wrk(u, args.seconds)),
                    ("new connection per request, ab -c50", 0.5, lambda u: run_ab(u, args.requests))):
                direct = Side(direct_url, [target.pid])
                proxied = Side(f"http://{PROXY[0]}:{PROXY[1]}/healthz", [target.pid, proxy.pid])
                ratios = measure(f"{mode}: {label}", workload, args.rounds, direct, proxied)
                results.append((f"{mode}: {label}", goal, direct, proxied, ratios))
            stop(proxy)
            proxy = None
    finally:
        if proxy is not None:
            stop(proxy)
        stop(target)
    print(f"\nmedians of {args.rounds} rounds ({os.cpu_count()} cores, shared with other work)")
    print("| workload | direct req/s | proxied req/s | ratio of medians | median of paired ratios"
          " | goal | direct CPU us/req (target) | proxied CPU us/req (target+proxy) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in results:
        report(*row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
