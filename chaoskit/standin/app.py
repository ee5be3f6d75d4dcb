"""Process entry of the target service: env config, the started byte, startup delay, signals, exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from chaoskit.standin.config import ConfigError, TargetConfig, from_env
from chaoskit.standin.server import TargetService

EXIT_OK = 0
EXIT_BIND_FAILED = 1
EXIT_BAD_CONFIG = 2

Runner = Callable[[Coroutine[Any, Any, int]], int]


def _loop_runner() -> Runner:
    try:
        import uvloop
    except ImportError:  # uvloop is a dependency on Linux; plain asyncio elsewhere
        return asyncio.run
    return uvloop.run


run_loop = _loop_runner()
"""Resolved at import, so importing uvloop counts as process start (before the started byte)."""


def signal_started(fd: int | None) -> None:
    """Tell the runtime the process has started (its container-start instant): one byte, then close."""
    if fd is None:
        return
    with contextlib.suppress(OSError):  # the runtime may have given up waiting; serve anyway
        os.write(fd, b"s")
    with contextlib.suppress(OSError):
        os.close(fd)


def raise_fd_limit() -> None:
    """A load test may hold many keep-alive connections: allow as many fds as the hard limit."""
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def serve(config: TargetConfig) -> int:
    """Wait the startup delay, bind, serve until SIGTERM/SIGINT, shut down gracefully."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _resolve, stop)
    if config.startup_delay_s > 0:
        # A slow start: the process has started, the app binds only after the delay (probes fail until then).
        signal_started(config.started_fd)
        await asyncio.wait([stop], timeout=config.startup_delay_s)
        if stop.done():
            return EXIT_OK  # stopped before it ever listened
    service = TargetService(config)
    try:
        await service.start()
    except OSError as exc:
        logging.getLogger("chaoskit.standin").error("cannot bind %s: %s", config.listen, exc)
        return EXIT_BIND_FAILED
    if config.startup_delay_s <= 0:
        # Stands in for httpd, which listens within milliseconds of its exec: the interpreter's own start-up is an
        # artefact of the emulation, so the container "starts" when the socket is listening.
        signal_started(config.started_fd)
    await stop
    await service.shutdown()
    # The target's own count, one line in its log: tests compare it with what the load recorded.
    sys.stderr.write(f"chaoskit-target stats {service.stats.to_json().decode()}\n")
    sys.stderr.flush()
    return EXIT_OK


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="chaoskit-target %(levelname)s %(message)s")
    try:
        config = from_env(os.environ)
    except ConfigError as exc:
        logging.getLogger("chaoskit.standin").error("%s", exc)
        return EXIT_BAD_CONFIG
    raise_fd_limit()
    return run_loop(serve(config))
