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
import time
from collections.abc import Callable, Sequence

TARGET = ("127.61.3.1", 18080)
PROXY = ("127.61.3.100", 30080)
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


def start_proxy() -> subprocess.Popen[bytes]:
    proxy = spawn([sys.executable, "-m", "chaoskit.cluster.local.proxy"],
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proxy.stdin is not None and proxy.stdout is not None
    for message in ({"op": "listen", "id": "B", "host": PROXY[0], "port": PROXY[1]},
                    {"op": "endpoints", "id": "B", "seq": 1, "endpoints": [list(TARGET)]}):
        proxy.stdin.write(json.dumps(message).encode() + b"\n")
        proxy.stdin.flush()
        reply = json.loads(proxy.stdout.readline())
        if reply["op"] == "error":
            raise SystemExit(f"proxy: {reply['message']}")
    return proxy


def run_wrk(url: str, seconds: float) -> float:
    out = subprocess.run(["wrk", "-t1", "-c50", f"-d{seconds:g}s", url], capture_output=True,
                         text=True, check=True, timeout=seconds + 30).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        raise SystemExit(f"wrk saw errors: {errors.group(0)}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def run_ab(url: str, requests: int) -> float:
    out = subprocess.run(["ab", "-q", "-c50", f"-n{requests}", url], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    if failed:
        raise SystemExit(f"ab saw {failed} failed requests")
    return float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def measure(name: str, run: Callable[[str], float], rounds: int) -> tuple[float, float]:
    direct_url = f"http://{TARGET[0]}:{TARGET[1]}/healthz"
    proxied_url = f"http://{PROXY[0]}:{PROXY[1]}/healthz"
    direct: list[float] = []
    proxied: list[float] = []
    for i in range(rounds):
        direct.append(run(direct_url))
        proxied.append(run(proxied_url))
        print(f"  {name} round {i + 1}: direct {direct[-1]:9.0f}/s  proxied {proxied[-1]:9.0f}/s"
              f"  ratio {proxied[-1] / direct[-1]:.2f}", flush=True)
    return statistics.median(direct), statistics.median(proxied)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk duration per run")
    parser.add_argument("--requests", type=int, default=20000, help="ab requests per run")
    args = parser.parse_args()
    for tool in ("wrk", "ab"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install wrk apache2-utils")
    env = {**os.environ, "CHAOSKIT_LISTEN": f"{TARGET[0]}:{TARGET[1]}", "POD_NAME": "bench"}
    target = spawn([sys.executable, "-m", "chaoskit.target"], env=env)
    proxy = None
    try:
        wait_port(*TARGET)
        proxy = start_proxy()
        wait_port(*PROXY)
        keep = measure("keep-alive (wrk -t1 -c50)", lambda u: run_wrk(u, args.seconds), args.rounds)
        new = measure("new conn (ab -c50)", lambda u: run_ab(u, args.requests), args.rounds)
    finally:
        if proxy is not None:
            stop(proxy)
        stop(target)
    print(f"\nmedians of {args.rounds} rounds (this machine: {os.cpu_count()} cores, shared)")
    print("| workload | direct req/s | proxied req/s | ratio | target |")
    print("|---|---:|---:|---:|---:|")
    for label, (d, p), goal in (("keep-alive, wrk -t1 -c50", keep, 0.6),
                                ("new connection per request, ab -c50", new, 0.5)):
        print(f"| {label} | {d:.0f} | {p:.0f} | {p / d:.2f} | >= {goal} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
