"""Load held: millions of connections through the local Service proxy, every client error counted.

Run (the full soak takes over an hour on 2 shared cores; run it in chunks and niced):
    nice -n 10 .venv/bin/python bench/soak_proxy.py --out soak.jsonl --mode relay --concurrency 50
    .venv/bin/python bench/soak_proxy.py --table soak.jsonl       # the BENCHMARKS.md table
    .venv/bin/python bench/soak_proxy.py --quick                   # 1/100 of the counts, under 2 minutes

Per configuration (proxy mode x concurrency x CPU contention) it pushes ``--new`` requests on a new
connection each (``Connection: close``) and ``--keep-alive`` requests on persistent connections through
one proxy listener to the built-in target, and counts the client's errors. Client: wrk, because its
counters are exact and it keeps going after an error (ab aborts after 10 connect failures, so it cannot
count them): connect (refused and other connect failures), read (reset, bad response), write, timeout
(no answer within ``--timeout``) and status (non-2xx/3xx). wrk is time-bounded, so it runs in segments
until the count is reached or the configuration's time cap is hit (then the row says so).
CPU contention: one busy process per core, bounded by the time cap, started and stopped here.
Kernel counters (ListenOverflows/ListenDrops, resets) are deltas of /proc/net/netstat: of this network
namespace, so they include other processes' traffic unless run under ``unshare -n`` (``--netns``).
Traffic stays on 127.61.4.0/24, ports outside the NodePort range (see docs/architecture.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

sys.path.insert(0, os.path.dirname(__file__))
from bench_proxy import spawn, stop, wait_port

TARGET = ("127.61.4.1", 18180)
PROXY = ("127.61.4.100", 18181)
MODES = ("relay", "hand-over")
KERNEL_COUNTERS = ("TcpExt.ListenOverflows", "TcpExt.ListenDrops", "TcpExt.TCPReqQFullDrop",
                   "TcpExt.TCPReqQFullDoCookies", "TcpExt.SyncookiesFailed", "Tcp.AttemptFails",
                   "Tcp.EstabResets", "Tcp.OutRsts", "TcpExt.TCPTimeouts")
WRK_ERRORS = ("connect", "read", "write", "timeout", "status")


@dataclass
class Row:
    """One workload of one configuration: what was pushed, what failed, how long it took."""

    mode: str
    concurrency: int
    contention: bool
    workload: str
    goal: int
    requests: int = 0
    duration_s: float = 0.0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WRK_ERRORS, 0))
    latency_max_ms: float = 0.0
    kernel: dict[str, int] = field(default_factory=dict)
    segments: int = 0
    capped: bool = False
    proxy_health: dict[str, float] = field(default_factory=dict)
    """The proxy's own report after the workload (totals since it started): accept-queue drops, ..."""

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


def netstat() -> dict[str, int]:
    """Every TCP counter of /proc/net/netstat and /proc/net/snmp (this network namespace)."""
    out: dict[str, int] = {}
    for path in ("/proc/net/netstat", "/proc/net/snmp"):
        with open(path) as f:
            lines = f.read().splitlines()
        for head, values in zip(lines[::2], lines[1::2], strict=True):
            prefix, names = head.split(":", 1)
            for name, value in zip(names.split(), values.split(":", 1)[1].split(), strict=True):
                if value.lstrip("-").isdigit():
                    out[f"{prefix}.{name}"] = int(value)
    return out


def _ms(text: str) -> float:
    value, unit = float(re.sub(r"[a-z]+$", "", text)), re.sub(r"^[\d.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, *, seconds: float, concurrency: int, close: bool, timeout_s: float) -> dict[str, float]:
    """One bounded wrk run: requests done, its error counters and the slowest answer."""
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", f"--timeout={timeout_s:g}s",
            "--latency", url]
    if close:
        argv[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if done is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    result: dict[str, float] = dict.fromkeys(WRK_ERRORS, 0)
    result["requests"] = int(done.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sockets:
        for name, value in zip(WRK_ERRORS, sockets.groups(), strict=False):
            result[name] = int(value)
    status = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["status"] = int(status.group(1)) if status else 0
    latency = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)
    result["latency_max_ms"] = _ms(latency.group(1)) if latency else 0.0
    return result


def push(row: Row, url: str, *, cap_s: float, timeout_s: float) -> None:
    """Run wrk in segments until ``row.goal`` requests are done (or ``cap_s`` has passed)."""
    before, start = netstat(), time.monotonic()
    segment_s = 5.0
    while row.requests < row.goal:
        left_s = cap_s - (time.monotonic() - start)
        if left_s < 1:
            row.capped = True
            break
        seconds = min(segment_s, left_s, 120.0)
        result = run_wrk(url, seconds=seconds, concurrency=row.concurrency, close=row.workload == "new",
                         timeout_s=timeout_s)
        row.segments += 1
        row.requests += int(result["requests"])
        for name in WRK_ERRORS:
            row.errors[name] += int(result[name])
        row.latency_max_ms = max(row.latency_max_ms, result["latency_max_ms"])
        rate = result["requests"] / seconds
        # Aim the next segment at the rest (plus 2 %), so the count is reached with little overshoot.
        segment_s = max(1.0, (row.goal - row.requests) * 1.02 / max(rate, 1.0))
    row.duration_s = round(time.monotonic() - start, 1)
    after = netstat()
    row.kernel = {name: after.get(name, 0) - before.get(name, 0) for name in KERNEL_COUNTERS}


@contextmanager
def busy_cores(on: bool, cap_s: float) -> Iterator[None]:
    """One spinning process per core (each ends by itself after ``cap_s``), stopped on exit."""
    spin = f"import time\nend = time.monotonic() + {cap_s:.0f}\nwhile time.monotonic() < end: pass\n"
    hogs = [spawn([sys.executable, "-c", spin]) for _ in range(os.cpu_count() or 1)] if on else []
    try:
        yield
    finally:
        for hog in hogs:
            stop(hog)


def start_proxy(handoff_path: str | None) -> subprocess.Popen[bytes]:
    proxy = spawn([sys.executable, "-m", "chaoskit.cluster.local.proxy"],
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proxy.stdin is not None and proxy.stdout is not None
    endpoint = [*TARGET, handoff_path] if handoff_path else list(TARGET)
    for message in ({"op": "listen", "id": "S", "host": PROXY[0], "port": PROXY[1]},
                    {"op": "endpoints", "id": "S", "seq": 1, "endpoints": [endpoint]}):
        proxy.stdin.write(json.dumps(message).encode() + b"\n")
        proxy.stdin.flush()
        if json.loads(proxy.stdout.readline())["op"] == "error":
            raise SystemExit(f"proxy refused {message}")
    return proxy


def soak(args: argparse.Namespace) -> list[Row]:
    handoff_path = tempfile.mktemp(prefix="chaoskit-soak-", suffix=".handoff")
    env = {**os.environ, "CHAOSKIT_LISTEN": f"{TARGET[0]}:{TARGET[1]}", "POD_NAME": "soak",
           "CHAOSKIT_HANDOFF": handoff_path}
    target = spawn([sys.executable, "-m", "chaoskit.standin"], env=env)
    rows: list[Row] = []
    try:
        wait_port(*TARGET)
        for mode in args.mode:
            proxy = start_proxy(handoff_path if mode == "hand-over" else None)
            try:
                wait_port(*PROXY)
                rows += soak_mode(args, mode, proxy)
            finally:
                stop(proxy)
    finally:
        stop(target)
    return rows


def proxy_health(proxy: subprocess.Popen[bytes]) -> dict[str, float]:
    """Ask the proxy for its health report (every_s 3600: one answer now, no pushes in between)."""
    assert proxy.stdin is not None and proxy.stdout is not None
    proxy.stdin.write(b'{"op":"health","id":"proxy","every_s":3600}\n')
    proxy.stdin.flush()
    report = json.loads(proxy.stdout.readline())
    return {key: report[key] for key in ("listen_drops", "handoff_timeouts", "handoff_refused", "cpu_s")}


def soak_mode(args: argparse.Namespace, mode: str, proxy: subprocess.Popen[bytes]) -> list[Row]:
    url = f"http://{PROXY[0]}:{PROXY[1]}/healthz"
    rows = []
    for concurrency in args.concurrency:
        for contention in args.contention:
            with busy_cores(contention == "busy", 2 * args.cap):
                for workload in args.workload:
                    goal = args.new if workload == "new" else args.keep_alive
                    row = Row(mode, concurrency, contention == "busy", workload, goal)
                    push(row, url, cap_s=args.cap, timeout_s=args.timeout)
                    row.proxy_health = proxy_health(proxy)
                    print(line(row), flush=True)
                    rows.append(row)
                    if args.out:
                        with open(args.out, "a") as out:
                            out.write(json.dumps(asdict(row)) + "\n")
    return rows


def line(row: Row) -> str:
    kernel = ", ".join(f"{k.split('.')[1]} {v}" for k, v in row.kernel.items() if v)
    own = row.proxy_health
    if own.get("listen_drops") or own.get("handoff_timeouts"):
        kernel += f"; proxy: drops {own['listen_drops']:.0f}, hand-over timeouts {own['handoff_timeouts']:.0f}"
    errors = ", ".join(f"{k} {v}" for k, v in row.errors.items() if v) or "none"
    return (f"| {row.mode} | {row.concurrency} | {'busy cores' if row.contention else 'none'} | "
            f"{row.workload} | {row.requests:,}{' (time cap)' if row.capped else ''} | "
            f"**{row.error_total}** ({errors}) | {row.duration_s:.0f} s | "
            f"{row.requests / max(row.duration_s, 0.1):,.0f}/s | {row.latency_max_ms:,.0f} ms | {kernel or '-'} |")


HEADER = ("| proxy | concurrency | CPU contention | workload | requests | client errors | duration | rate "
          "| slowest answer | kernel counters (namespace-wide deltas) |\n"
          "|---|---:|---|---|---:|---|---:|---:|---:|---|")


def table(path: str) -> None:
    with open(path) as f:
        rows = [Row(**json.loads(text)) for text in f if text.strip()]
    print(HEADER)
    for row in rows:
        print(line(row))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/100 of the counts (under 2 minutes)")
    parser.add_argument("--new", type=int, default=1_000_000, help="requests on new connections")
    parser.add_argument("--keep-alive", type=int, default=5_000_000, help="keep-alive requests")
    parser.add_argument("--mode", type=lambda s: s.split(","), default=list(MODES))
    parser.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[50, 500])
    parser.add_argument("--contention", type=lambda s: s.split(","), default=["none", "busy"])
    parser.add_argument("--workload", type=lambda s: s.split(","), default=["new", "keep-alive"])
    parser.add_argument("--cap", type=float, default=900.0, help="seconds at most per workload")
    parser.add_argument("--timeout", type=float, default=5.0, help="wrk: an answer slower than this is an error")
    parser.add_argument("--out", help="append each row as a JSON line to this file")
    parser.add_argument("--table", metavar="FILE", help="print the markdown table of a --out file and exit")
    parser.add_argument("--netns", action="store_true", help="run in a private network namespace (root)")
    args = parser.parse_args()
    if args.quick:
        args.new, args.keep_alive, args.cap = args.new // 100, args.keep_alive // 100, 30.0
    if bad := (set(args.mode) - set(MODES)) | (set(args.contention) - {"none", "busy"}) | (
            set(args.workload) - {"new", "keep-alive"}):
        parser.error(f"unknown mode, contention or workload {sorted(bad)}")
    return args


def main() -> int:
    args = parse_args()
    if args.table:
        table(args.table)
        return 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    if args.netns and not os.environ.get("CHAOSKIT_SOAK_NETNS"):
        argv = [a for a in sys.argv if a != "--netns"]
        script = f"ip link set lo up && exec {sys.executable} {' '.join(argv)}"
        os.execvpe("unshare", ["unshare", "-n", "sh", "-c", script], {**os.environ, "CHAOSKIT_SOAK_NETNS": "1"})
    start = time.monotonic()
    print(HEADER, flush=True)
    rows = soak(args)
    failed = sum(row.error_total for row in rows)
    print(f"\n{sum(r.requests for r in rows):,} requests, {failed} client errors, "
          f"{time.monotonic() - start:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
