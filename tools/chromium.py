"""Headless Chromium with the network off, for checking and photographing the built book.

Used by tests/test_browser.py and tools/screenshot.py. The browser is Debian's ``chromium``
(``apt-get install -y chromium``; .ci/run installs it); ``$WORMHOLE_CHROMIUM`` names another.
Pages are opened from ``file://`` and every request to the network fails at once (a dead proxy
and a resolver that resolves nothing), so what renders is what the site itself ships.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
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
