"""Checks on the built HTML, as a reader would see it (run after a book build).

The site folder is ``$WORMHOLE_SITE`` (``make test`` points it at the quick build,
``make check-site`` at the full one).
"""

import os
import re
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("WORMHOLE_SITE", ROOT / "_build" / "html"))


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [c["file"] for c in part["chapters"]]
    return files


PAGES = _toc_files()
CHAPTERS = [f for f in PAGES if f.startswith("notebooks/")]


def _html(page):
    path = SITE / f"{page}.html"
    assert path.exists(), f"{path} was not built"
    return path.read_text(encoding="utf-8")


def test_site_was_built():
    assert (SITE / "index.html").exists(), f"no book at {SITE}: build it first"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_in_the_toc_exists(page):
    assert len(_html(page)) > 1000


@pytest.mark.parametrize("page", CHAPTERS)
def test_file_number_is_chapter_number(page):
    """notebooks/0N_*.ipynb is chapter N (the results page, 09, comes last in its own part)."""
    number = int(Path(page).name.split("_")[0])
    title = re.search(r"<title>(.*?)</title>", _html(page), flags=re.S).group(1)
    assert title.strip().startswith(f"{number}. "), f"{page} is not chapter {number}: {title.strip()!r}"


@pytest.mark.parametrize("page", PAGES)
def test_no_saved_widget_state_or_stale_progress_bar(page):
    html = _html(page)
    assert "application/vnd.jupyter.widget-state+json" not in html, f"{page} saves widget state (dead widgets)"
    assert "application/vnd.jupyter.widget-view+json" not in html, f"{page} has a widget output"


def test_timings_page_is_generated_and_marks_no_failure_as_passed():
    html = _html("book/timings")
    assert "All chapters:" in html and "machine that built this book" in html
    assert "✅" not in html, "the timings page uses ✅, which reads as 'its checks passed'"
    for page in CHAPTERS:
        assert Path(page).name in html or Path(page).name.split("_", 1)[1].replace("_", " ") in html.lower() \
            or f'href="../{page}.html"' in html, f"{page} is missing from the timings page"


@pytest.mark.parametrize("page", CHAPTERS)
def test_each_chapter_has_a_figure(page):
    assert re.search(r"<img [^>]*src=\"[^\"]+\.png\"", _html(page)), f"{page} has no figure"


@pytest.mark.parametrize("page", PAGES)
def test_no_error_output(page):
    html = _html(page)
    for marker in ("Traceback (most recent call last)", "CellExecutionError", 'class="output traceback'):
        assert marker not in html, f"{page} shows an error ({marker})"


@pytest.mark.parametrize("page", ["notebooks/01_maml_in_brief", "notebooks/02_glued_parameter_space"])
def test_math_is_rendered(page):
    html = _html(page)
    assert html.count('class="math notranslate nohighlight"') >= 3
    assert "mathjax" in html.lower()


def test_equations_are_numbered_and_referenced():
    html = _html("notebooks/02_glued_parameter_space")
    assert 'id="equation-eq-alpha-w-star"' in html and "Eq. " in html


def test_launch_and_repository_buttons():
    html = _html("notebooks/03_threshold_comparison")
    assert "mybinder.org" in html and "colab.research.google.com" in html
    assert "repository" in html.lower() and "download" in html.lower()


def test_bibliography_and_api_reference():
    bib = _html("book/bibliography").lower()
    assert "finn" in bib and "gradient surgery" in bib and "wormhole maml" in bib
    api = _html("book/api")
    assert "meta_train" in api and "Wormhole" in api and "TaskBatch" in api


def test_figures_are_numbered_and_referenced():
    html = _html("notebooks/02_glued_parameter_space")
    assert 'id="fig-shortcut"' in html and "Fig. 2.2" in html
    assert 'id="fig-results-forest"' in _html("notebooks/09_results")


def _config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _links(html, prefix):
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', html) if unescape(h).startswith(prefix)]


def _binder_prefix(binderhub, repo, branch):
    """Where a Binder link for ``repo@branch`` starts (as sphinx-book-theme writes it)."""
    if repo.startswith("https://github.com/"):
        return f"{binderhub}/v2/gh/{repo.removeprefix('https://github.com/')}/{branch}?"
    if repo.startswith("https://gitlab.com/"):
        return f"{binderhub}/v2/gl/{repo.removeprefix('https://gitlab.com/').replace('/', '%2F')}/{branch}?"
    return f"{binderhub}/v2/git/{quote(repo)}/{branch}?"


@pytest.mark.parametrize("page", CHAPTERS)
def test_launch_buttons_open_this_notebook_in_the_configured_repository(page):
    config = _config()
    repo, branch = config["repository"]["url"].rstrip("/"), config["repository"].get("branch", "main")
    binderhub = config["launch_buttons"]["binderhub_url"].rstrip("/")
    colab = config["launch_buttons"]["colab_url"].rstrip("/")
    html = _html(page)
    binder = _links(html, binderhub + "/")
    assert binder, f"{page} has no Binder button"
    for url in binder:
        prefix = _binder_prefix(binderhub, repo, branch)
        assert url.startswith(prefix), f"{page}: Binder opens {url}, not {repo}@{branch}"
        path = parse_qs(urlsplit(url).query)["urlpath"][0].split("tree/", 1)[1]
        assert path == f"{page}.ipynb" and (ROOT / path).is_file(), f"{page}: Binder opens {path}"
    if repo.startswith("https://github.com/"):  # Colab opens notebooks from GitHub only
        colab_links = _links(html, colab + "/")
        assert colab_links, f"{page} has no Colab button"
        for url in colab_links:
            prefix = f"{colab}/github/{repo.removeprefix('https://github.com/')}/blob/{branch}/"
            assert url.startswith(prefix), f"{page}: Colab opens {url}, not a notebook of {repo}@{branch}"
            path = url[len(prefix):]
            assert path == f"{page}.ipynb" and (ROOT / path).is_file(), f"{page}: Colab opens {path}"
    assert f'href="{repo}"' in html, f"{page} has no repository button for {repo}"


@pytest.mark.parametrize("page", [p for p in PAGES if p not in CHAPTERS])
def test_reference_pages_have_no_launch_buttons(page):
    html, launch = _html(page), _config()["launch_buttons"]
    assert not _links(html, launch["binderhub_url"].rstrip("/") + "/") and not _links(html, launch["colab_url"].rstrip("/") + "/")


def _visible_text(html: str) -> str:
    """The page's prose as a reader sees it (tags, scripts, styles, code blocks and inline code removed)."""
    html = re.sub(r"<(script|style|pre|code)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", "\n", html)


@pytest.mark.parametrize("page", PAGES)
def test_no_markdown_reaches_the_page_as_raw_text(page):
    """A generated Markdown table or heading that myst-nb rendered as plain text shows up as
    rows of pipes (``|---|``, or ``|—|`` after smart quotes) or as a line starting with ``#``."""
    text = _visible_text(_html(page))
    assert not re.search(r"\|\s*[-—–:]{1,}\s*\|", text), f"{page} shows a raw Markdown table"
    raw_heading = [line for line in text.splitlines() if re.match(r"\s*#{1,6} \w", line)]
    assert not raw_heading, f"{page} shows raw Markdown headings: {raw_heading[:3]}"
    assert "{glue" not in text, f"{page} shows an unresolved glue role"


def test_results_table_is_an_html_table_with_every_claim():
    from wormhole.report import FINAL_WORDS, final_word
    from wormhole.stats import VERDICTS

    html = _html("notebooks/09_results")
    table = re.search(r'<table class="wormhole-results">.*?</table>', html, flags=re.S)
    assert table, "the results table did not reach the page as an HTML table"
    rows = re.findall(r'<tr><td data-claim="([^"]+)">.*?</td><td><b>([^<]+)</b></td><td>([^<]+)</td><td>([^<]+)</td>',
                      table.group(0), flags=re.S)
    keys = [r[0] for r in rows]
    abstract = ["conflict-training", "conflict-end", "dynamics", "expressivity", "helps-threshold", "helps-wavelet",
                "helps-mnist"]
    assert [k for k in keys if k in abstract] == abstract, f"every claim of the abstract, in order: {keys}"
    assert len(re.findall(r"<tr>", table.group(0))) == len(rows) + 1, "a header and one row per claim"
    for key, final, first, second in rows:
        assert final in FINAL_WORDS, (key, final)
        assert {first, second} <= {*VERDICTS, "too few seeds"}, (key, first, second)
        assert final == final_word((first, second)), (key, final, first, second)
    borderline = re.findall(r'data-borderline="(true|false)"', table.group(0))
    assert len(borderline) == len(rows), "every claim says how close its word is to flipping"