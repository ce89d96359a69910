"""Headless Chromium, driven over the DevTools protocol on a pipe: enough to open a page,
read what a reader sees, and take a screenshot, with nothing from PyPI.

Chromium speaks the protocol on file descriptors 3 (commands in) and 4 (replies and events
out) when started with ``--remote-debugging-pipe``; each message is JSON ended by a NUL byte.
The scorecard's tests use it to check the page in a real browser (console errors, network
requests, visible text) and :mod:`cxpipe.scorecard.screenshot` to picture it for the docs.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

CANDIDATES: Final = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)
"""Flags that work in containers and CI, and keep the browser from calling home."""


_ONTO_3_AND_4 = (
    "import os, sys; commands, replies = map(int, sys.argv[1:3]); "
    "os.dup2(commands, 3); os.dup2(replies, 4); os.close(commands); os.close(replies); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)
"""Run by a fresh interpreter between us and Chromium: puts the pipe ends on the fds the
protocol uses, then becomes Chromium. (Doing it in ``preexec_fn`` is unsafe in a process
with threads, such as one running polars.)"""


class BrowserError(RuntimeError):
    """Chromium could not be started, or did not answer in time."""


def find_chromium() -> str | None:
    """The Chromium executable: ``$CHROMIUM`` if set, else the first one on ``PATH``."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """One tab: what it logged and requested since it was opened, and how to query it."""

    browser: Chromium
    session: str
    url: str = ""
    console_errors: list[str] = field(default_factory=list)
    """Console errors and warnings, uncaught exceptions and browser log errors (such as a
    Content-Security-Policy violation)."""
    requests: list[str] = field(default_factory=list)
    """Every URL the page asked for, its own document included."""

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.call(method, session=self.session, **params)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable results)."""
        reply = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression!r} failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def png(self, *, height: int | None = None) -> bytes:
        """A PNG of the page's top ``height`` CSS pixels, or of the whole page."""
        metrics = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {
            "x": 0,
            "y": 0,
            "width": metrics["width"],
            "height": min(height, metrics["height"]) if height else metrics["height"],
            "scale": 1,
        }
        shot = self.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        return base64.b64decode(shot["data"])


class Chromium:
    """A headless Chromium process; use :func:`launch`."""

    def __init__(self, executable: str, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="cxpipe-chromium-")
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        # The child's ends, above 4 so that moving them onto 3 and 4 cannot clobber them.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5) for fd in (commands_read, replies_write)]
        os.close(commands_read)
        os.close(replies_write)
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-S",
                    "-c",
                    _ONTO_3_AND_4,
                    *map(str, ends),
                    executable,
                    *FLAGS,
                    f"--user-data-dir={self._profile}",
                    "--remote-debugging-pipe",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=ends,
            )
        except OSError as exc:
            raise BrowserError(f"cannot start {executable}: {exc}") from exc
        finally:
            for fd in ends:
                os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.pages: dict[str, Page] = {}

    # --- the protocol ------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        os.write(self._commands, json.dumps(message).encode("utf-8") + b"\0")

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._replies], [], [], max(left, 0))
            if not ready:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise BrowserError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def _dispatch(self, event: dict[str, Any]) -> None:
        page = self.pages.get(event.get("sessionId", ""))
        if page is None:
            return
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            page.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning"):
            args = params.get("args", [])
            page.console_errors.append(
                " ".join(str(a.get("value", a.get("description"))) for a in args)
            )
        elif method == "Runtime.exceptionThrown":
            page.console_errors.append(str(params["exceptionDetails"].get("text")))
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            page.console_errors.append(params["entry"]["text"])
        else:
            self._events.append(event)

    def call(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its reply, dispatching the events on the way."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self._dispatch(reply)

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        """The next event ``method`` of a session (or one that already arrived)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for event in self._events:
                if event.get("method") == method and event.get("sessionId") == session:
                    self._events.remove(event)
                    return event
            self._dispatch(self._receive(deadline))

    # --- pages -------------------------------------------------------------------------

    def open(
        self,
        url: str,
        *,
        width: int = 1280,
        height: int = 900,
        scripts: bool = True,
        before_load: str | None = None,
    ) -> Page:
        """A new tab at ``width`` × ``height`` CSS pixels, loaded with ``url``; logging and
        network events are recorded from before the first request. ``scripts=False`` opens
        it as a browser with JavaScript off would; ``before_load`` is a script DevTools runs
        in the page before the page's own (to watch for what the page might do)."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session)
        self.pages[session] = page
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        if not scripts:
            page.call("Emulation.setScriptExecutionDisabled", value=True)
        if before_load is not None:
            page.call("Page.addScriptToEvaluateOnNewDocument", source=before_load)
        page.url = url
        page.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired", session)
        return page

    def close(self) -> None:
        """Ask the browser to quit, then make sure it did, and remove its profile."""
        try:
            if self.process.poll() is None:
                self._send({"id": 0, "method": "Browser.close", "params": {}})
                self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._commands)
            os.close(self._replies)
            shutil.rmtree(self._profile, ignore_errors=True)


@contextmanager
def launch(executable: str | None = None, *, timeout: float = 30.0) -> Iterator[Chromium]:
    """A headless Chromium for the ``with`` block; :class:`BrowserError` if there is none."""
    found = executable or find_chromium()
    if found is None:
        raise BrowserError("no Chromium found: install Debian's `chromium` or set $CHROMIUM")
    browser = Chromium(found, timeout=timeout)
    try:
        yield browser
    finally:
        browser.close()
