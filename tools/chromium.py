"""Headless Chromium with the network off, for checking and photographing the built book.

Used by tests/test_browser.py and tools/screenshot.py. The browser is Debian's ``chromium``
(``apt-get install -y chromium``; .ci/run installs it); ``$WORMHOLE_CHROMIUM`` names another.
Pages are opened from ``file://`` and every request to the network fails at once (a dead proxy
and a resolver that resolves nothing), so what renders is what the site itself ships.

:class:`Browser` drives Chromium over its DevTools protocol (console errors, the rendered DOM,
layout, screenshots); :func:`dump_dom` and :func:`screenshot` are one-shot command-line runs.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]
HEADLESS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
]


def find() -> str | None:
    """The Chromium executable, or None."""
    named = os.environ.get("WORMHOLE_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).exists() else None)
    return next((p for p in map(shutil.which, NAMES) if p), None)


def run(url: str, *args: str, budget_ms: int = 10000, timeout: float = 180) -> subprocess.CompletedProcess:
    """Open ``url`` offline in a fresh profile, let ``budget_ms`` of virtual time pass, then act (``args``)."""
    exe = find()
    if exe is None:
        raise FileNotFoundError("no Chromium found: apt-get install -y chromium (or set WORMHOLE_CHROMIUM)")
    with tempfile.TemporaryDirectory(prefix="wormhole-chromium-") as profile:
        cmd = [exe, *HEADLESS, *OFFLINE, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def dump_dom(path: Path, budget_ms: int = 10000) -> str:
    """The page's DOM after its scripts ran (MathJax included), as HTML."""
    result = run(Path(path).resolve().as_uri(), "--dump-dom", budget_ms=budget_ms)
    if result.returncode != 0 or "<html" not in result.stdout.lower():
        raise RuntimeError(f"chromium failed ({result.returncode}) on {path}:\n{result.stderr[-2000:]}")
    return result.stdout


def screenshot(path: Path, out: Path, anchor: str = "", size: str = "1280,900", budget_ms: int = 10000) -> Path:
    """Save a PNG of the page at ``path`` (scrolled to ``#anchor`` if given) to ``out``."""
    out = Path(out).resolve()
    url = Path(path).resolve().as_uri() + (f"#{anchor}" if anchor else "")
    result = run(url, f"--screenshot={out}", f"--window-size={size}", budget_ms=budget_ms)
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"chromium failed ({result.returncode}) on {url}:\n{result.stderr[-2000:]}")
    return out


def _above_4(fd: int) -> int:
    """``fd`` moved to a descriptor number above 4 (so that moving the pipes to 3 and 4 clobbers none)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Browser:
    """One headless Chromium driven over its DevTools protocol (``--remote-debugging-pipe``: JSON
    messages on file descriptors 3 and 4, so no port and no extra package), network off.

    >>> with Browser() as browser:
    ...     page = browser.open(Path("_build/html/index.html"))
    ...     page.evaluate("document.title"), page.errors
    """

    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 60):
        exe = find()
        if exe is None:
            raise FileNotFoundError("no Chromium found: apt-get install -y chromium (or set WORMHOLE_CHROMIUM)")
        self.width, self.height, self.timeout = width, height, timeout
        self._profile = tempfile.TemporaryDirectory(prefix="wormhole-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        to_browser_r, from_browser_w = _above_4(to_browser_r), _above_4(from_browser_w)
        cmd = [exe, *HEADLESS, *OFFLINE, "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}",
               f"--window-size={width},{height}", "about:blank"]

        def pipes_to_3_and_4():  # in the child, before exec: where Chromium expects its pipe
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self._process = subprocess.Popen(cmd, pass_fds=(3, 4), preexec_fn=pipes_to_3_and_4,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        self.version = self.call("Browser.getVersion")["product"]

    # -- the protocol ------------------------------------------------------------------------
    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited: {self._stderr_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _stderr_tail(self) -> str:
        try:
            self._process.wait(timeout=5)
            return self._process.stderr.read().decode(errors="replace")[-2000:]
        except Exception:  # noqa: BLE001 - only for the error message
            return "(no stderr)"

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float | None = None) -> dict:
        """Wait for the event ``method`` of ``session`` (or take it if it already came)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for event in self._events:
                if event["method"] == method and event.get("sessionId") == session:
                    self._events.remove(event)
                    return event
            self._events.append(self._read(deadline))

    def events(self, session: str) -> list[dict]:
        """The events of ``session`` received so far (and forget them)."""
        mine = [e for e in self._events if e.get("sessionId") == session]
        self._events = [e for e in self._events if e.get("sessionId") != session]
        return mine

    # -- pages ---------------------------------------------------------------------------------
    def open(self, path: Path | str, settle_ms: int = 300) -> "Page":
        """Open a file of the site in a fresh tab; return when it has loaded, its MathJax has
        typeset and its images have decoded."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False}, session)
        url = path if isinstance(path, str) and "://" in path else Path(path).resolve().as_uri()
        page = Page(self, target, session, url)
        self.call("Page.navigate", {"url": url}, session)
        self.wait_for("Page.loadEventFired", session)
        page.evaluate(READY.replace("SETTLE_MS", str(int(settle_ms))), await_promise=True)
        return page

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self.call("Browser.close", timeout=10)
            except Exception:  # noqa: BLE001 - it is closing anyway
                pass
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        if self._process.stderr:
            self._process.stderr.close()
        self._profile.cleanup()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: awaited after the load event: MathJax's first typesetting, every image decoded, a short settle
READY = """(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
  await new Promise(done => setTimeout(done, SETTLE_MS));
  return true;
})()"""


class Page:
    """A tab of :class:`Browser` showing one page."""

    def __init__(self, browser: Browser, target: str, session: str, url: str):
        self.browser, self.target, self.session, self.url = browser, target, session, url

    def evaluate(self, expression: str, await_promise: bool = False):
        """The JSON value of a JavaScript expression in the page."""
        result = self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                        "awaitPromise": await_promise}, self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed on {self.url}: {result['exceptionDetails']}")
        return result["result"].get("value")

    @property
    def errors(self) -> list[str]:
        """JavaScript errors so far: uncaught exceptions, ``console.error`` calls and failed loads
        of the site's own files (requests to the network fail by design and are not counted)."""
        found = []
        for event in self.browser.events(self.session):
            params = event["params"]
            if event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text", "")
                found.append(f"{text} ({details.get('url', '')}:{details.get('lineNumber', '?')})")
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                          for a in params["args"]))
            elif event["method"] == "Log.entryAdded":
                entry = params["entry"]
                if entry["level"] == "error" and (entry.get("source") != "network"
                                                  or entry.get("url", "").startswith("file:")):
                    found.append(f"{entry.get('source')}: {entry['text']} {entry.get('url', '')}".strip())
        self._errors = getattr(self, "_errors", []) + found
        return list(self._errors)

    def screenshot(self, out: Path, selector: str = "", full_height: int | None = None) -> Path:
        """Save a PNG of the viewport, scrolled so that ``selector`` is at the top (if given);
        ``full_height`` captures that many CSS pixels from there instead of one viewport."""
        if selector:
            self.evaluate(f"document.querySelector({json.dumps(selector)}).scrollIntoView()")
        params = {"format": "png"}
        if full_height:
            top = self.evaluate("window.scrollY")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": top, "width": self.browser.width, "height": full_height, "scale": 1})
        data = self.browser.call("Page.captureScreenshot", params, self.session)["data"]
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target})
