"""A headless Chromium driven over the DevTools protocol through a pipe (report browser tests).

Chromium's ``--remote-debugging-pipe`` reads protocol commands from file
descriptor 3 and writes replies and events to descriptor 4, each message a JSON
text ended by a NUL byte. That needs no port, no websocket library and no
browser download: only the Debian ``chromium`` package (``make test``
installs it). Networking is off three ways: a proxy that cannot be reached,
a host resolver that resolves nothing, and the protocol's offline emulation;
every request the page makes is recorded, so a test can require that there
was none.

    python -m tests.browser out/report.html docs/report.png     # the README's screenshot
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    """The browser binary: ``RETRY_LINEAGE_CHROMIUM`` or the first of BROWSERS on PATH."""
    configured = os.environ.get("RETRY_LINEAGE_CHROMIUM")
    if configured:
        return configured
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(Exception):
    pass


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900, timeout: float = 30.0):
        self._binary = binary
        self._width, self._height = width, height
        self._timeout = timeout
        self._next_id = 0
        self._buffer = b""
        self.events: list[dict] = []
        self._profile = tempfile.mkdtemp(prefix="report-browser-")
        self._session: str | None = None

    def __enter__(self) -> Browser:
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()

        def wire_descriptors():
            # Through high numbers first: either pipe end may itself be 3 or 4.
            reading = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            writing = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        command = [
            self._binary, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
            "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--hide-scrollbars", "--mute-audio", f"--user-data-dir={self._profile}",
            f"--window-size={self._width},{self._height}", "about:blank",
        ]
        self._process = subprocess.Popen(command, preexec_fn=wire_descriptors, pass_fds=(3, 4),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._out, self._in = to_browser_write, from_browser_read
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
                  uploadThroughput=-1)
        self.call("Emulation.setDeviceMetricsOverride", width=self._width, height=self._height,
                  deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(BrowserError, OSError):  # the browser may be gone already
            self.call("Browser.close", session=False)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._out, self._in):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise BrowserError("no reply from the browser in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError("the browser closed its pipe (did it start?)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = True, **params) -> dict:
        """Send one command and return its result; events arriving meanwhile go to ``events``."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session and self._session:
            message["sessionId"] = self._session
        os.write(self._out, json.dumps(message).encode("utf-8") + b"\0")
        deadline = time.monotonic() + self._timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, path: Path) -> None:
        """Load a local file and wait until it has loaded."""
        self.call("Page.navigate", url=Path(path).resolve().as_uri())
        deadline = time.monotonic() + self._timeout
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise BrowserError("the page did not finish loading")
            time.sleep(0.05)

    def wait_for(self, expression: str, timeout: float = 15.0):
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    def screenshot(self, full_page: bool = True) -> bytes:
        """A PNG of the page at the window's width (the whole page, or the viewport)."""
        params = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": self._width, "height": size["height"], "scale": 1})
        return base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])

    def pdf(self) -> bytes:
        """The page printed to A4 as the browser prints it."""
        return base64.b64decode(self.call("Page.printToPDF", paperWidth=8.27, paperHeight=11.69,
                                          printBackground=True, preferCSSPageSize=True)["data"])

    # --- what happened -----------------------------------------------------------------

    def console_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(json.dumps(params.get("args", []))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(params["entry"].get("text", "")[:500])
        return errors

    def requests(self) -> list[str]:
        """URLs of every request the page made (the page's own file included)."""
        return [event["params"]["request"]["url"] for event in self.events
                if event.get("method") == "Network.requestWillBeSent"]

    def failed_requests(self) -> list[str]:
        return [json.dumps(event["params"])[:300] for event in self.events
                if event.get("method") == "Network.loadingFailed"]


def distinct_colours(png: bytes) -> int:
    """How many different colours a PNG holds (1 for a blank page)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24)
    return len(colours)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.browser PAGE.html SCREENSHOT.png", file=sys.stderr)
        return 2
    binary = find_browser()
    if binary is None:
        print("no chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    with Browser(binary) as browser:
        browser.open(Path(argv[0]))
        browser.wait_for("document.querySelectorAll('.plotly-graph-div .main-svg').length > 0", 10)
        Path(argv[1]).write_bytes(browser.screenshot())
    print(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
