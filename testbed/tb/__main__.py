"""Entry point: `python3 -m tb up|down|env` (wrapped by testbed/up, testbed/down, testbed/env)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import agent_image, components, config, images, network, nodens, pki, procs, render, smoke, teardown
from .config import Paths

ENV_LINE = "export KUBECONFIG={kc}; export CHAOSKIT_KUBE_CONTEXT={ctx}"


def say(text: str) -> None:
    print(f"testbed: {text}", file=sys.stderr, flush=True)


def is_up(p: Paths) -> int | None:
    try:
        pid = int(p.supervisor_pid.read_text())
    except (OSError, ValueError):
        return None
    return pid if procs.alive(pid) and "tb.supervisor" in procs.cmdline(pid) else None


def prepare(p: Paths, agent: dict[str, Any], nodes: tuple[config.Node, ...]) -> list[str]:
    """Everything on disk and on the host before the first process starts (`agent`: agent_image.gather())."""
    for d in (p.state, p.logs, p.pids):
        d.mkdir(parents=True, exist_ok=True)
    network.save_sysctls(p.state)
    pki.make_pki(p.pki, nodes)
    files = render.write_configs(p, nodes)
    tars = [*images.build_all(p.images, p.bin / "pause"), str(agent_image.build(p.images, agent))]
    for node in nodes:
        if node.isolated:
            # Before the netns: the mount namespace then holds no reference to it.
            nodens.setup_mount_ns(p, node)
            nodens.create_cgroup_root(node)
    network.setup(nodes, p.state)
    spec = components.spec(p, files, tars, nodes)
    (p.state / "components.json").write_text(json.dumps(spec, indent=2))
    return tars


def start_supervisor(p: Paths, *, timeout_s: float) -> None:
    sup = procs.spawn([sys.executable, "-m", "tb.supervisor", str(p.state)],
                      log=p.logs / "supervisor.out", cwd=Path(__file__).parent.parent,
                      die_with_parent=False)
    p.supervisor_pid.write_text(f"{sup.pid}\n")
    deadline = time.monotonic() + timeout_s
    status = ""
    while time.monotonic() < deadline:
        status = (p.state / "status").read_text().strip() if (p.state / "status").exists() else ""
        if status == "running":
            return
        if status.startswith("failed") or sup.poll() is not None:
            break
        time.sleep(0.2)
    raise smoke.NotReadyError(f"components did not start: {status or 'timeout'}")


def _log_tail(p: Paths, lines: int = 15) -> str:
    out = []
    for log in sorted(p.logs.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"--- {log.name} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n".join(out)


def up(p: Paths) -> int:
    if os.geteuid() != 0:
        say("must run as root (network namespaces, iptables, cgroups)")
        return 2
    if pid := is_up(p):
        say(f"already up (supervisor pid {pid}, state {p.state}); run testbed/down first")
        return 2
    try:
        agent = agent_image.gather()
    except agent_image.AgentImageError as exc:
        say(str(exc))
        return 2
    bridge_left = subprocess.run(["ip", "link", "show", config.BRIDGE], capture_output=True,
                                 check=False).returncode == 0
    if p.state.exists() or bridge_left or (network.RUN_NETNS / config.NODE2_NETNS).exists():
        # An earlier run was killed (e.g. with its session); down works from whatever is left.
        say(f"leftovers of an earlier run ({p.state}, bridge {config.BRIDGE} or netns "
            f"{config.NODE2_NETNS}): running down first")
        down(p)
    nodes = config.nodes()
    t0 = time.monotonic()
    try:
        prepare(p, agent, nodes)
        t1 = time.monotonic()
        start_supervisor(p, timeout_s=300.0)
        t2 = time.monotonic()
        say(f"components up in {t2 - t1:.1f}s (prepare {t1 - t0:.1f}s); waiting for the node")
        smoke.wait_nodes_ready(p, nodes, timeout_s=180.0)
        t3 = time.monotonic()
        urls = smoke.run_smoke(p, nodes, timeout_s=180.0)
        t4 = time.monotonic()
    except (smoke.NotReadyError, agent_image.AgentImageError, subprocess.SubprocessError, OSError) as exc:
        say(f"FAILED: {exc}")
        if isinstance(exc, subprocess.CalledProcessError) and exc.stderr:
            say(f"  its stderr: {str(exc.stderr).strip()}")
        print(_log_tail(p), file=sys.stderr)
        if os.environ.get("CHAOSKIT_TESTBED_KEEP") == "1":
            say("left running for inspection (CHAOSKIT_TESTBED_KEEP=1); run testbed/down when done")
        else:
            say("tearing down (set CHAOSKIT_TESTBED_KEEP=1 to keep a failed test bed)")
            down(p)
        return 1
    env_line = ENV_LINE.format(kc=p.kubeconfig, ctx=config.CONTEXT)
    (p.state / "env").write_text(env_line + "\n")
    say(f"{len(nodes)} node(s) Ready {t3 - t2:.1f}s after start; smoke passed in {t4 - t3:.1f}s:")
    for what, where in urls.items():
        say(f"  ok: {what}: {where}")
    say(f"timings: prepare {t1 - t0:.1f}s, start {t2 - t1:.1f}s, ready {t4 - t2:.1f}s, "
        f"total {t4 - t0:.1f}s")
    listed = ", ".join(f"{n.name} ({n.ip})" for n in nodes)
    say(f"up: kube {config.K8S_VERSION}, context {config.CONTEXT}, nodes {listed}; stop with testbed/down")
    print(env_line)
    return 0


def down(p: Paths) -> int:
    t0 = time.monotonic()
    problems = teardown.down(p)
    for problem in problems:
        say(f"down: {problem}")
    say(f"down in {time.monotonic() - t0:.1f}s" + (" with problems" if problems else ", clean"))
    return 1 if problems else 0


def env(p: Paths) -> int:
    if not is_up(p) or not (p.state / "env").exists():
        say(f"not up (no running test bed in {p.state}); run testbed/up")
        return 1
    print((p.state / "env").read_text().strip())
    return 0


def preflight(_p: Paths) -> int:
    """Cheap checks `testbed/up` runs before the (long) build: the agent image's Python has locust."""
    try:
        agent_image.gather()
    except agent_image.AgentImageError as exc:
        say(str(exc))
        return 2
    return 0


def main(argv: list[str]) -> int:
    commands = {"up": up, "down": down, "env": env, "preflight": preflight}
    if len(argv) != 1 or argv[0] not in commands:
        say("usage: python3 -m tb up|down|env|preflight")
        return 2
    return commands[argv[0]](config.paths())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
