"""The built book in a real browser with the network off: are the equations typeset?

Run after a book build, like tests/test_site.py (``$WORMHOLE_SITE``; ``make test`` points it at
the quick build). Needs Chromium (``apt-get install -y chromium``; .ci/run installs it): without
one the tests are skipped, except under CI, where they fail.
"""

import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("WORMHOLE_SITE", ROOT / "_build" / "html"))
sys.path.insert(0, str(ROOT / "tools"))

import chromium  # noqa: E402

PAGES = ["notebooks/01_maml_in_brief", "notebooks/02_glued_parameter_space"]
RAW_TEX = re.compile(r'class="math notranslate nohighlight">\s*(\\\(|\\\[|\$\$)')


@pytest.fixture(scope="module")
def browser():
    if chromium.find() is None:
        message = "no Chromium: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _page(page):
    path = SITE / f"{page}.html"
    assert path.exists(), f"{path} was not built"
    return path


def test_mathjax_is_served_by_the_site():
    html = _page(PAGES[1]).read_text(encoding="utf-8")
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', html, flags=re.IGNORECASE)
    assert scripts, "the page loads no MathJax"
    for src in scripts:
        assert "://" not in src, f"MathJax comes from the network: {src}"
        assert (SITE / Path(PAGES[1]).parent / src.split("?")[0]).resolve().is_file(), f"{src} is not in the site"


@pytest.mark.parametrize("page", PAGES)
def test_equations_are_typeset_offline(browser, page):
    path = _page(page)
    source = path.read_text(encoding="utf-8")
    n_math = source.count('class="math notranslate nohighlight"')
    assert n_math >= 3, f"{page} has no math to check"
    dom = chromium.dump_dom(path)
    typeset = dom.count("<mjx-container")
    assert typeset >= n_math, f"{page}: {typeset} typeset equations for {n_math} in the source"
    assert not RAW_TEX.search(dom), f"{page}: raw TeX left untypeset"
    assert "<mjx-merror" not in dom, f"{page}: MathJax reports a TeX error"
