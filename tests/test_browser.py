"""The built book in a real browser, as a reader with no network sees it.

Every page of the table of contents is opened in headless Chromium (driven over its DevTools
protocol by tools/chromium.py) with the network off, at a desktop window size, and checked:

* the page loads and the console shows no JavaScript error;
* every equation is typeset (no raw ``\\(``, ``\\[`` or ``$$`` in the rendered text);
* every figure has a non-zero rendered size, and none is shrunk to fit the column (figures are
  drawn at most the column's width with 9 pt text, so shrinking would make the text smaller);
* no output block is wider than the content column (nothing needs a sideways scroll);
* no output shows a Python warning, a traceback, a ``PosixPath(...)``, ``nan%``, ``± nan``, a
  blown-up number (six or more digits before the decimal point) or a progress bar, no table
  shows ``nan``, and no page carries saved widget state (dead sliders, frozen bars);
* the results page's first screen (1280 × 900) shows its one line and its verdict table;
* a chapter opens with its answer: an "In short" box before its first visible code cell;
* visible code teaches: no visible cell glues a number into the prose or asserts an invariant
  (that plumbing runs in removed cells), and no code cell scrolls sideways;
* no page tells the story of its own builds (the protocol's history lives on one page).

Run after a book build, like tests/test_site.py (``$WORMHOLE_SITE``; ``make test`` points it at
the quick build, ``make check-site`` at the full one). Needs Chromium (``apt-get install -y
chromium``; .ci/run installs it): without one every test here is skipped and says so, except
under CI (``$CI`` set), where they fail.
"""

import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("WORMHOLE_SITE", ROOT / "_build" / "html"))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))

import chromium  # noqa: E402
from test_site import PAGES  # noqa: E402  (every page of _toc.yml)

NO_CHROMIUM = "SKIPPED the browser checks: no Chromium (apt-get install -y chromium, or set WORMHOLE_CHROMIUM)"

#: what a reader must never see in an output
JUNK = {
    "a Python warning": re.compile(r"\b\w*Warning: |warnings\.warn\("),
    "a traceback": re.compile(r"Traceback \(most recent call last\)"),
    "a kernel temp path": re.compile(r"/tmp/ipykernel_"),
    "a PosixPath(...)": re.compile(r"\b(Posix|Windows)?Path\('"),
    "nan%": re.compile(r"\bnan ?%"),
    "nan ± nan": re.compile(r"\bnan ?± ?nan\b"),
    "± nan": re.compile(r"± ?nan\b"),
    "a blown-up number (six or more digits before the point; a diverged run reads 'diverged')":
        re.compile(r"(?<![\w.])[-+]?\d{6,}\.\d"),
    "a progress bar": re.compile(r"\d+%\|[^|\n]*\| *\d+/\d+"),
}

#: measured in the page, after MathJax and the images are done (JSON back to Python)
INSPECT = r"""(() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const box = article.getBoundingClientRect();
  const style = getComputedStyle(article);
  const left = box.left + parseFloat(style.paddingLeft), right = box.right - parseFloat(style.paddingRight);
  const hidden = el => { for (let e = el; e; e = e.parentElement) {
      if (e.tagName === 'DETAILS' && !e.open && !(e === el)) return true;
      if (getComputedStyle(e).display === 'none') return true; } return false; };
  const where = el => {
      const cell = el.closest('.cell'); const head = [...document.querySelectorAll('h1, h2, h3')]
          .filter(h => h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
      return (head ? '§ ' + head.textContent.replace(/[#¶]/g, '').trim().slice(0, 50) : '') +
             (cell && cell.id ? ' #' + cell.id : ''); };
  // 1. raw TeX in prose (code and outputs are not prose)
  const raw = [];
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest('pre, code, script, style, mjx-container, .cell_output, .highlight, textarea')) continue;
    const m = n.textContent.match(/\\\(|\\\[|\$\$/);
    if (m) raw.push(n.textContent.trim().slice(0, 80));
  }
  // 2. figures
  const figures = [...article.querySelectorAll('img')].map(img => {
    const r = img.getBoundingClientRect();
    return {src: img.getAttribute('src').slice(0, 80), natural: [img.naturalWidth, img.naturalHeight],
            shown: [Math.round(r.width), Math.round(r.height)], hidden: hidden(img), where: where(img)}; });
  // 3. outputs wider than the column, or scrolling sideways inside it
  const overflow = [];
  for (const el of article.querySelectorAll('.cell_output pre, .cell_output table, .cell_output img, .cell_output .output, .cell_output details, .cell_output div.output_html')) {
    if (hidden(el)) continue;
    const r = el.getBoundingClientRect();
    const scrolls = el.scrollWidth - el.clientWidth;
    const sticks_out = r.right - right;
    if (scrolls > 1 || sticks_out > 1)
      overflow.push({what: el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : ''),
                     width: Math.round(Math.max(el.scrollWidth, r.width)), column: Math.round(right - left),
                     text: (el.innerText || el.getAttribute('src') || '').trim().split('\n')[0].slice(0, 70), where: where(el)});
  }
  // 4. the text of every output, for the junk check
  const outputs = [...article.querySelectorAll('.cell_output')].map(o => ({text: o.textContent, where: where(o)}));
  // 5. the visible code: its text, whether it scrolls sideways, and where the first cell and the summary box sit
  const inputs = [...article.querySelectorAll('.cell_input pre')].filter(el => !hidden(el));
  const code = inputs.map(el => ({text: el.textContent, scrolls: el.scrollWidth - el.clientWidth > 1,
                                  width: el.scrollWidth, where: where(el)}));
  const shortBox = [...article.querySelectorAll('.admonition')].find(a => /^\s*In short/.test(
      (a.querySelector('.admonition-title') || {}).textContent || ''));
  const before = (a, b) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
  const summary = {box: !!shortBox, before_code: !!shortBox && (!inputs.length || before(shortBox, inputs[0]))};
  // 6. tables' text, and where the results page's one line and verdict table sit in the first screen
  const tables = [...article.querySelectorAll('table')].map(t => ({text: t.textContent, where: where(t)}));
  const results = document.querySelector('table.wormhole-results');
  const oneLine = [...article.querySelectorAll('.cell_output')].find(o => /In one line:/.test(o.textContent));
  const top = el => el ? el.getBoundingClientRect().top + window.scrollY : null;
  const first_screen = {results_top: top(results), one_line_top: top(oneLine), height: window.innerHeight};
  return {column: Math.round(right - left), raw, figures, overflow, outputs, code, summary, tables, first_screen,
          prose: [...article.querySelectorAll('p, li, h1, h2, h3, td, th')].filter(e => !e.closest('.cell_output, .cell_input'))
                   .map(e => e.textContent).join('\n'),
          math: article.querySelectorAll('.math').length, typeset: document.querySelectorAll('mjx-container').length,
          merror: document.querySelectorAll('mjx-merror').length,
          widget_state: document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]').length,
          widget_views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"], .jupyter-widgets').length};
})()"""


@pytest.fixture(scope="module")
def browser():
    if chromium.find() is None:
        if os.environ.get("CI"):
            pytest.fail(NO_CHROMIUM)
        pytest.skip(NO_CHROMIUM)
    with chromium.Browser() as b:
        yield b


_seen: dict[str, dict] = {}


@pytest.fixture
def seen(browser, request):
    """What the browser shows on this page (each page is opened once for all the checks)."""
    page = request.node.callspec.params["page"]
    if page not in _seen:
        path = SITE / f"{page}.html"
        assert path.exists(), f"{path} was not built"
        tab = browser.open(path)
        report = tab.evaluate(INSPECT)
        report["errors"] = tab.errors
        tab.close()
        _seen[page] = report
    return _seen[page]


def _listed(items) -> str:
    return "\n  " + "\n  ".join(map(str, items))


@pytest.mark.parametrize("page", PAGES)
def test_no_javascript_error(seen, page):
    assert not seen["errors"], f"{page}: the console shows errors:{_listed(seen['errors'])}"


@pytest.mark.parametrize("page", PAGES)
def test_every_equation_is_typeset(seen, page):
    assert not seen["raw"], f"{page}: raw TeX left in the text:{_listed(seen['raw'])}"
    assert seen["merror"] == 0, f"{page}: MathJax reports {seen['merror']} TeX errors"
    assert seen["typeset"] >= seen["math"], f"{page}: {seen['typeset']} typeset of {seen['math']} equations"


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_is_shown(seen, page):
    empty = [f for f in seen["figures"] if min(f["natural"]) == 0 or (not f["hidden"] and min(f["shown"]) == 0)]
    assert not empty, f"{page}: figures with no rendered size:{_listed(empty)}"


#: a figure shown at less than this fraction of its drawn width has text below 9 pt
MIN_SCALE = 0.9


@pytest.mark.parametrize("page", PAGES)
def test_no_figure_is_shrunk(seen, page):
    shrunk = [f for f in seen["figures"] if not f["hidden"] and f["natural"][0] and f["src"].endswith(".png")
              and f["shown"][0] < MIN_SCALE * f["natural"][0]]
    assert not shrunk, (f"{page}: figures drawn wider than the {seen['column']}px column and shrunk (their text "
                        f"falls below 9 pt; draw them at most wh.plotting.COLUMN_INCHES wide):{_listed(shrunk)}")


@pytest.mark.parametrize("page", PAGES)
def test_no_output_is_wider_than_the_column(seen, page):
    wide = seen["overflow"]
    assert not wide, f"{page}: outputs wider than the {seen['column']}px column:{_listed(wide)}"


@pytest.mark.parametrize("page", PAGES)
def test_no_junk_in_outputs(seen, page):
    found = [f"{name} ({o['where']}): ...{o['text'][max(0, m.start() - 50):m.end() + 30].strip()!r}..."
             for o in seen["outputs"] for name, pattern in JUNK.items() for m in [pattern.search(o["text"])] if m]
    assert not found, f"{page}: outputs a reader should not see:{_listed(found)}"


@pytest.mark.parametrize("page", PAGES)
def test_no_table_shows_nan(seen, page):
    found = [f"{t['where']}: ...{t['text'][max(0, m.start() - 40):m.end() + 20].strip()!r}..."
             for t in seen["tables"] for m in [re.search(r"\bnan\b", t["text"], re.I)] if m]
    assert not found, f"{page}: a table shows nan (a diverged value reads 'diverged', a missing one n/a):" + _listed(found)


@pytest.mark.parametrize("page", ["notebooks/09_results"])
def test_the_results_page_opens_with_its_answer(seen, page):
    where = seen["first_screen"]
    assert where["one_line_top"] is not None, "the results page has no 'In one line:' output"
    assert where["results_top"] is not None, "the results page has no verdict table"
    # the one line and the start of the table both within the first screen (1280 × 900)
    assert where["one_line_top"] < where["height"] and where["results_top"] < where["height"] - 100, where


@pytest.mark.parametrize("page", PAGES)
def test_no_saved_widget_state(seen, page):
    assert seen["widget_state"] == 0 and seen["widget_views"] == 0, (
        f"{page}: saved widget state ({seen['widget_state']} state scripts, {seen['widget_views']} widget views): "
        "a static page shows dead widgets; chapters show a static figure in a book build")


def test_mathjax_is_served_by_the_site():
    page = "notebooks/02_glued_parameter_space"
    path = SITE / f"{page}.html"
    assert path.exists(), f"{path} was not built"
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', path.read_text(encoding="utf-8"), flags=re.I)
    assert scripts, "the page loads no MathJax"
    for src in scripts:
        assert "://" not in src, f"MathJax comes from the network: {src}"
        assert (SITE / Path(page).parent / src.split("?")[0]).resolve().is_file(), f"{src} is not in the site"


#: the chapters, which open with an "In short" box (the results page leads with its table instead)
CHAPTERS = [p for p in PAGES if re.match(r"notebooks/0[1-8]_", p)]


@pytest.mark.parametrize("page", CHAPTERS)
def test_a_chapter_opens_with_its_answer(seen, page):
    assert seen["summary"]["box"], f"{page}: no 'In short' box"
    assert seen["summary"]["before_code"], f"{page}: the 'In short' box comes after the first visible code cell"


#: words with which a page would tell the history of its own builds
BUILD_HISTORY = re.compile(r"(first|last|previous|earlier) (full )?build|after (it|the build) failed|"
                           r"what changed after|we changed after|(an|the) earlier edition|earlier versions? of (this|the) (book|chapter)", re.I)


@pytest.mark.parametrize("page", [p for p in PAGES if not p.endswith("protocol_changes")])
def test_no_page_names_its_own_builds(seen, page):
    found = [m.group(0) for m in BUILD_HISTORY.finditer(seen["prose"])]
    assert not found, f"{page}: prose about the book's own builds (move it to the protocol-changes page): {found}"


#: plumbing a reader should not have to read past: gluing numbers into the prose, asserting invariants
PLUMBING = re.compile(r"\bglue\(|^[ \t]*assert\b", re.M)


@pytest.mark.parametrize("page", PAGES)
def test_visible_code_is_not_plumbing(seen, page):
    found = [f"{c['where']}: {c['text'][m.start():].splitlines()[0][:70]}"
             for c in seen["code"] for m in PLUMBING.finditer(c["text"])]
    assert not found, f"{page}: visible code glues or asserts (tag the cell remove-cell):" + _listed(found)


@pytest.mark.parametrize("page", PAGES)
def test_no_code_scrolls_sideways(seen, page):
    found = [f"{c['where']} ({c['width']} px in a {seen['column']} px column): "
             f"{max(c['text'].splitlines() or [''], key=len)[:70]}" for c in seen["code"] if c["scrolls"]]
    assert not found, f"{page}: code wider than its cell (shorten the line):" + _listed(found)
