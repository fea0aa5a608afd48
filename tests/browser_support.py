"""Headless Chromium driven over the DevTools protocol: type into a page, click, screenshot.

``chromium --screenshot`` only photographs a URL; logging into the Airflow UI needs a browser that
stays open. This starts Debian's Chromium with ``--remote-debugging-port`` and speaks the
protocol over a WebSocket (``websockets``, already in the environment). Only what the UI tests
need: navigate, evaluate JavaScript, wait for a condition, take a PNG.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from stack_support import CHROMIUM_FLAGS, free_port
from websockets.sync.client import ClientConnection, connect


class Page:
    """One tab of the browser."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=60))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                last = self.evaluate(expression)
                if last:
                    return last
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {expression!r} (last {last!r})")

    def type_into(self, selector: str, text: str) -> None:
        """Set an input's value the way React notices (its native setter, then an input event)."""
        self.evaluate(
            "(() => {"
            f"const el = document.querySelector({json.dumps(selector)});"
            "const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;"
            f"set.call(el, {json.dumps(text)});"
            "el.dispatchEvent(new Event('input', {bubbles: true}));"
            "return true; })()"
        )

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


@contextlib.contextmanager
def chromium(profile: Path, *, width: int = 1600, height: int = 1000) -> Iterator[Page]:
    """A headless Chromium with a fresh profile; ended (by its PID) on exit."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise AssertionError("Debian's chromium is needed (.ci/run installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not targets:
            with contextlib.suppress(requests.RequestException):
                listed = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                targets = [t for t in listed if t.get("type") == "page"]
            time.sleep(0.3)
        if not targets:
            raise AssertionError("Chromium's DevTools endpoint did not come up")
        with connect(targets[0]["webSocketDebuggerUrl"], max_size=64 * 2**20) as ws:
            page = Page(ws)
            page.call("Page.enable")
            page.call("Runtime.enable")
            yield page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
