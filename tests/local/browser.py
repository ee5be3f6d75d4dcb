"""Headless Chromium driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``): no port, no
WebSocket library, no network. Debian's ``chromium`` (scripts/install-system-deps installs it).

Chromium reads commands from fd 3 and writes replies and events to fd 4, each a JSON message ending in NUL.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from chaoskit.process import _die_with_parent

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe")  # fmt: skip


class BrowserError(RuntimeError):
    pass


@dataclass
class Page:
    """What a loaded page reported: console errors, uncaught exceptions, requests it made."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Chromium:
    def __init__(self, process: subprocess.Popen[bytes], to_browser: int, from_browser: int) -> None:
        self.process = process
        self._out = to_browser
        self._in = from_browser
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout_s: float = 30.0) -> dict[str, Any]:
        """One command; returns its result (events that arrive meanwhile are kept for :meth:`events`)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self._events.append(reply)

    def wait_for(self, method: str, *, session: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = next((e for e in self._events if e.get("method") == method and e.get("sessionId") == session),
                         None)
            if found is not None:
                self._events.remove(found)
                return found
            self._events.append(self._read(deadline))

    def take_events(self, session: str) -> list[dict[str, Any]]:
        """The events of one tab received so far (removed from the queue)."""
        mine = [e for e in self._events if e.get("sessionId") == session]
        self._events = [e for e in self._events if e.get("sessionId") != session]
        return mine

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message


def _high(fd: int) -> int:
    """The same pipe end above the redirections to 3 and 4 (bash reads multi-digit fds; dash does not)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Chromium]:
    """A fresh headless Chromium (new empty profile), stopped by its process group at the end."""
    if CHROMIUM is None:
        raise BrowserError("chromium is not installed (scripts/install-system-deps installs it)")
    profile = tempfile.mkdtemp(prefix="chaoskit-chromium-")
    commands_r, commands_w = (_high(fd) for fd in os.pipe())
    replies_r, replies_w = (_high(fd) for fd in os.pipe())
    script = f'exec "$0" "$@" 3<&{commands_r} 4>&{replies_w} {commands_r}<&- {replies_w}>&-'
    parent = os.getpid()
    process = subprocess.Popen(
        ["bash", "-c", script, CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
         "about:blank"],
        pass_fds=(commands_r, replies_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, preexec_fn=lambda: _die_with_parent(parent),  # noqa: PLW1509 (as chaoskit.process)
    )
    os.close(commands_r)
    os.close(replies_w)
    try:
        yield Chromium(process, commands_w, replies_r)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        os.close(commands_w)
        os.close(replies_r)
        shutil.rmtree(profile, ignore_errors=True)


def open_page(browser: Chromium, url: str, *, width: int = 1280) -> tuple[str, Page]:
    """A new tab at ``url``, loaded; returns (session id, what the page reported while loading)."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1,
                                                        "mobile": False}, session=session)
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_for("Page.loadEventFired", session=session, timeout_s=60)
    page = Page()
    for event in browser.take_events(session):
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            page.console_errors.append(json.dumps(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            page.console_errors.append(json.dumps(params.get("exceptionDetails")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            page.console_errors.append(params["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            page.requests.append(params.get("request", {}).get("url", ""))
    return session, page


def evaluate(browser: Chromium, session: str, expression: str) -> Any:
    """A JavaScript expression's value (JSON-serialisable) in the page."""
    result = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
    if "exceptionDetails" in result:
        raise BrowserError(f"{expression}: {result['exceptionDetails']}")
    return result["result"].get("value")


def screenshot(browser: Chromium, session: str) -> bytes:
    """The whole page as PNG bytes."""
    data = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session,
                        timeout_s=60)["data"]
    return base64.b64decode(data)
