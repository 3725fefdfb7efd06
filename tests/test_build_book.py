"""tools/build_book.py executes chapters ahead of Sphinx, side by side, into the jupyter-cache
that myst-nb reads: what runs ahead, in which order, with how many threads, and what a
failure does."""

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402


def _notebook(path: Path, *sources: str, mode: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    if mode:
        nb.metadata["mystnb"] = {"execution_mode": mode}
    nbformat.write(nb, path)
    return path


def test_every_chapter_but_the_results_page_runs_ahead():
    notebooks = build_book.toc_notebooks(ROOT)
    names = [p.name for p in notebooks]
    assert names == sorted(names) and len(names) == 9   # the table of contents' order is the files' order
    ahead = [p.name for p in notebooks if build_book.runs_ahead(p)]
    assert ahead == names[:-1] and names[-1] == "09_results.ipynb"   # it reads what the others save


def test_chapters_execute_side_by_side_into_the_cache_myst_nb_reads(tmp_path, monkeypatch):
    from jupyter_cache import get_cache

    monkeypatch.setattr(build_book.os, "cpu_count", lambda: 4)
    slow = _notebook(tmp_path / "slow.ipynb", "import os, time\nthreads = os.environ['OMP_NUM_THREADS']",
                     "time.sleep(1)\nprint(threads)")
    fast = _notebook(tmp_path / "fast.ipynb", "x = 2 + 2\nprint(x)")
    cache_dir = tmp_path / "cache"
    failed = build_book.execute_ahead([fast, slow], cache_dir, jobs=2, timeout=60, order={"slow.ipynb": 9.0})
    assert failed == []
    cache = get_cache(str(cache_dir))
    for path, text in ((slow, "2\n"), (fast, "4\n")):   # 4 cores, 2 jobs: 2 threads each
        record = cache.match_cache_notebook(nbformat.read(path, as_version=4))  # what myst-nb looks up
        _, merged = cache.merge_match_into_notebook(nbformat.read(path, as_version=4))
        assert merged.cells[-1].outputs[0]["text"] == text
        assert record.data["execution_seconds"] > (0.9 if path is slow else 0)
    times = dict(build_book.chapter_times(cache_dir))
    assert set(times) == {"slow.ipynb", "fast.ipynb"} and times["slow.ipynb"] > times["fast.ipynb"]
    # a second build finds both in the cache and executes nothing
    assert build_book.execute_ahead([fast, slow], cache_dir, jobs=2, timeout=60, order={}) == []


def test_each_chapters_longest_cell_is_recorded_and_one_over_half_the_limit_is_flagged(tmp_path, capsys):
    slow = _notebook(tmp_path / "slow.ipynb", "import time\nx = 1", "time.sleep(1.2)", "y = 2")
    fast = _notebook(tmp_path / "fast.ipynb", "x = 2 + 2")
    times = tmp_path / "cells.json"
    assert build_book.execute_ahead([slow, fast], tmp_path / "cache", jobs=1, timeout=2, order={},
                                    cell_times=times) == []
    recorded = json.loads(times.read_text())
    assert recorded["slow"]["cell"] == 1 and 1.1 < recorded["slow"]["seconds"] < 2
    assert recorded["slow"]["limit"] == 2 and recorded["fast"]["seconds"] < 1
    assert "slow.ipynb cell 1 ran" in capsys.readouterr().out     # over half of the 2 s limit
    # a chapter served from the cache keeps its entry
    assert build_book.execute_ahead([slow, fast], tmp_path / "cache", jobs=1, timeout=2, order={},
                                    cell_times=times) == []
    assert json.loads(times.read_text()) == recorded


def test_a_failing_chapter_is_reported_and_not_cached(tmp_path, capsys):
    from jupyter_cache import get_cache

    bad = _notebook(tmp_path / "bad.ipynb", "assert 1 + 1 == 3, 'the claim did not hold'")
    good = _notebook(tmp_path / "good.ipynb", "print('fine')")
    cache_dir = tmp_path / "cache"
    assert build_book.execute_ahead([bad, good], cache_dir, jobs=1, timeout=60, order={}) == ["bad.ipynb"]
    assert "the claim did not hold" in capsys.readouterr().err
    cache = get_cache(str(cache_dir))
    with pytest.raises(KeyError):
        cache.match_cache_notebook(nbformat.read(bad, as_version=4))
    cache.match_cache_notebook(nbformat.read(good, as_version=4))


def test_longest_chapters_of_the_last_build_start_first(tmp_path, monkeypatch):
    started = []

    class Pool:   # runs in order of submission, in this process
        def __init__(self, max_workers):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, fn, path, timeout, threads, env):
            from concurrent.futures import Future
            started.append(Path(path).name)
            future = Future()
            future.set_result((nbformat.read(path, as_version=4), 0.0, None, None))
            return future

    monkeypatch.setattr(build_book, "ProcessPoolExecutor", Pool)
    paths = [_notebook(tmp_path / f"{name}.ipynb", f"print('{name}')") for name in ("a", "b", "c", "d")]
    build_book.execute_ahead(paths, tmp_path / "cache", jobs=2, timeout=60,
                             order={"a.ipynb": 1.0, "b.ipynb": 30.0, "c.ipynb": 5.0})
    assert started == ["d.ipynb", "b.ipynb", "c.ipynb", "a.ipynb"]   # unknown first (in toc order), then longest


def test_jobs_must_be_positive():
    with pytest.raises(SystemExit):
        build_book.main(["--jobs", "0"])


def test_timeout_comes_from_the_book_config():
    import yaml
    assert build_book.execution_timeout(ROOT) == yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]


def test_the_last_build_here_orders_the_work_before_the_committed_durations(tmp_path):
    durations, last = tmp_path / "durations.json", tmp_path / "chapter-times.json"
    assert build_book.scheduling_times(last, "full", durations) == {}          # nothing known: toc order
    build_book.store_durations({"a.ipynb": 10.4, "b.ipynb": 99.6}, "full", durations)
    build_book.store_durations({"a.ipynb": 1.2}, "quick", durations)
    assert build_book.scheduling_times(last, "full", durations) == {"a.ipynb": 10, "b.ipynb": 100}
    assert build_book.scheduling_times(last, "quick", durations) == {"a.ipynb": 1}
    last.write_text('{"a.ipynb": 500.0}')
    assert build_book.scheduling_times(last, "full", durations) == {"a.ipynb": 500.0}


def test_the_committed_durations_name_every_chapter_that_runs_ahead():
    import json
    stored = json.loads(build_book.DURATIONS.read_text())
    ahead = {p.name for p in build_book.toc_notebooks(ROOT) if build_book.runs_ahead(p)}
    for mode in ("full", "quick"):
        assert set(stored[mode]) == ahead, f"{mode} durations are stale: .venv/bin/python tools/build_book.py{' --quick' if mode == 'quick' else ''} --store-durations"


def test_a_new_fingerprint_rebuilds_every_page(tmp_path, monkeypatch):
    """Sphinx re-reads only pages whose file changed; a new fingerprint (here, the seed offset;
    equally the package's sources) must still replace every chapter's page, not only its cache."""
    book = tmp_path / "book"
    (book / "notebooks").mkdir(parents=True)
    (book / "_config.yml").write_text("title: t\nexecute:\n  execute_notebooks: cache\n  timeout: 60\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: notebooks/page\n")
    (book / "intro.md").write_text("# Intro\n")
    page = _notebook(book / "notebooks" / "page.ipynb", "import os\nprint('stamp', os.environ['WORMHOLE_FINGERPRINT'])")
    nb = nbformat.read(page, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# Page"))
    nbformat.write(nb, page)
    html = book / "_build" / "html" / "notebooks" / "page.html"
    for offset in ("0", "100"):
        monkeypatch.setenv("WORMHOLE_SEED_OFFSET", offset)
        assert build_book.main(["--jobs", "1"], root=book) == 0
        assert f"seeds{offset}" in html.read_text(), f"the page kept an older build's output (offset {offset})"


def test_a_chapter_says_how_long_it_runs(tmp_path):
    import json

    from wormhole.book import GPU_HINT, running_time

    path = tmp_path / "durations.json"
    path.write_text(json.dumps({"full": {"a.ipynb": 1432, "b.ipynb": 17}, "quick": {"a.ipynb": 38}}))
    assert running_time("a.ipynb", path) == ("The last recorded build ran this chapter in about 24 minutes on two CPU "
                                             "cores; `WORMHOLE_QUICK=1` runs the same code at toy sizes in about "
                                             "40 seconds. " + GPU_HINT)
    assert running_time("b.ipynb", path) == ("The last recorded build ran this chapter in about 15 seconds on two CPU "
                                             "cores. " + GPU_HINT)
    assert running_time("c.ipynb", path) == "" and running_time("a.ipynb", tmp_path / "absent.json") == ""
