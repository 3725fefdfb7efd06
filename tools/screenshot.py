"""Photograph a built chapter, offline, for the README (book/images/screenshot.png).

    .venv/bin/python tools/screenshot.py                        # chapter 2 of the quick build
    .venv/bin/python tools/screenshot.py --site _build/html     # ... of the full build
    .venv/bin/python tools/screenshot.py --page notebooks/04_wavelet_regression --anchor ""

The page is opened in headless Chromium with the network off (tools/chromium.py), so the
picture shows the equations as the site itself renders them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import chromium  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(ROOT / "_build" / "quick" / "_build" / "html"), help="built book folder")
    parser.add_argument("--page", default="notebooks/02_glued_parameter_space", help="page, without .html")
    X
    parser.add_argument("--size", default="1280,1000", help="window size, WIDTH,HEIGHT")
    parser.add_argument("--out", default=str(ROOT / "book" / "images" / "screenshot.png"))
    args = parser.parse_args(argv)
    page = Path(args.site) / f"{args.page}.html"
    if not page.exists():
        print(f"{page} does not exist: build the book first (make book-quick or make book)", file=sys.stderr)
        return 1
    html = chromium.dump_dom(page)
    if "mjx-container" not in html:
        print(f"warning: no typeset math on {page}", file=sys.stderr)
    out = chromium.screenshot(page, Path(args.out), anchor=args.anchor, size=args.size)
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
