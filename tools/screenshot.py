"""Photograph chapters of the built book, offline, for the README (docs/*.png).

    .venv/bin/python tools/screenshot.py                        # the three README pictures, quick build
    .venv/bin/python tools/screenshot.py --site _build/html     # ... of the full build
    .venv/bin/python tools/screenshot.py --page notebooks/04_wavelet_regression --anchor "" --out docs/ch4.png

The pages are opened in headless Chromium with the network off (tools/chromium.py, the same
browser and checks as tests/test_browser.py), after MathJax has typeset and the figures have
loaded, so the pictures show the book as the site itself renders it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import chromium  # noqa: E402

#: the README's pictures: (page, element to scroll to ('' for the top), file under docs/)
README_SHOTS = [
    ("notebooks/02_glued_parameter_space", "#sec-rule", "screenshot-theory.png"),
    ("notebooks/03_threshold_comparison", "", "screenshot-reproduction.png"),
    ("notebooks/09_results", "", "screenshot-results.png"),
]


def shoot(site: Path, shots, size=(1280, 1000)) -> list[Path]:
    saved = []
    with chromium.Browser(*size) as browser:
        for page, anchor, out in shots:
            path = Path(site) / f"{page}.html"
            if not path.exists():
                raise FileNotFoundError(f"{path} does not exist: build the book first (make book-quick or make book)")
            tab = browser.open(path, settle_ms=500)
            if tab.evaluate("document.querySelectorAll('.math').length > 0 && "
                            "document.querySelectorAll('mjx-container').length == 0"):
                print(f"warning: no typeset math on {path}", file=sys.stderr)
            if anchor and not tab.evaluate(f"!!document.querySelector({anchor!r})"):
                print(f"warning: no {anchor} on {path}; photographing the top", file=sys.stderr)
                anchor = ""
            saved.append(tab.screenshot(Path(out), selector=anchor))
            errors = tab.errors
            if errors:
                print(f"warning: {path} logs errors: {errors}", file=sys.stderr)
            tab.close()
    return saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default=str(ROOT / "_build" / "quick" / "_build" / "html"), help="built book folder")
    parser.add_argument("--page", help="one page, without .html (default: the README's three pictures)")
    parser.add_argument("--anchor", default="", help="with --page: CSS selector to scroll to first ('' for the top)")
    parser.add_argument("--out", help="with --page: the PNG to write")
    parser.add_argument("--size", default="1280,1000", help="window size, WIDTH,HEIGHT")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split(","))
    if args.page:
        shots = [(args.page, args.anchor, args.out or str(ROOT / "docs" / (Path(args.page).name + ".png")))]
    else:
        shots = [(page, anchor, str(ROOT / "docs" / name)) for page, anchor, name in README_SHOTS]
    try:
        for out in shoot(Path(args.site), shots, size):
            print(f"saved {out}")
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
