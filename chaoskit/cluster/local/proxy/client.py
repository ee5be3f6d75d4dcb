"""Client of the proxy process (the local kube-proxy data path), over JSON lines on its stdin/stdout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaoskit.cluster.protocol import ClusterError
from chaoskit.process import spawn, terminate

log = logging.getLogger(__name__)
SyncedCallback = Callable[[str, int, int], None]
"""(listener id, seq, ts_ns when the proxy applied it)"""


class ProxyClient:
    """Starts one proxy process and sends it listener and endpoint commands."""

    def __init__(self, *, python: str, on_synced: SyncedCallback, log_path: Path) -> None:
        self._python = python
        self._log_path = log_path
        self._on_synced = on_synced
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self.errors: list[str] = []
        """Data-path errors the proxy reported outside any request (kept for the run's notes)."""

    async def start(self) -> None:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        # The proxy's own log goes to a file (like kube-proxy's), never onto the user's terminal.
        with self._log_path.open("ab") as log_file:
            self._process = await spawn(
                [self._python, "-m", "chaoskit.cluster.local.proxy"], env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log_file.fileno(),
            )
        self._reader = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for line in self._process.stdout:
            message = json.loads(line)
            op, listener = message.get("op"), message.get("id", "")
            if op == "synced":
                self._on_synced(listener, int(message["seq"]), int(message["ts_ns"]))
                continue
            expected = "listen" if op in ("listening", "error") else "close"
            future = self._pending.pop((expected, listener), None)
            if future is not None and not future.done():
                future.set_result(message)
            elif op == "error":  # e.g. a listener could not re-bind after an empty endpoint set
                self.errors.append(f"proxy listener {listener}: {message.get('message')}")
                log.warning(self.errors[-1])
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ClusterError("the local proxy process exited"))

    def _send(self, message: dict[str, Any]) -> None:
        if self._process is None or self._process.stdin is None or self._process.returncode is not None:
            raise ClusterError("the local proxy process is not running")
        self._process.stdin.write(json.dumps(message).encode() + b"\n")

    async def _request(self, op: str, message: dict[str, Any]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[(op, message["id"])] = future
        self._send({"op": op, **message})
        return await asyncio.wait_for(future, timeout=10)

    async def listen(self, listener: str, host: str, port: int) -> None:
        reply = await self._request("listen", {"id": listener, "host": host, "port": port})
        if reply.get("op") == "error":
            raise ClusterError(f"cannot listen on {host}:{port}: {reply.get('message')}",
                               hint="another process holds that address; pick another port")

    async def close_listener(self, listener: str) -> None:
        await self._request("close", {"id": listener})

    def set_endpoints(self, listener: str, seq: int, endpoints: list[tuple[str, int, str]]) -> None:
        """Each endpoint is (IP, port, hand-over socket path or "" to relay)."""
        self._send({"op": "endpoints", "id": listener, "seq": seq,
                    "endpoints": [[ip, port, path] if path else [ip, port] for ip, port, path in endpoints]})

    async def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=2)
        await terminate(process, grace_s=1)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._process = None
