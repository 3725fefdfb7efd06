"""Build the book with Jupyter Book 1.x and report what each chapter cost.

``python tools/build_book.py``          full scale, into ``_build/html``
``python tools/build_book.py --quick``  quick mode (WORMHOLE_QUICK=1), into ``_build/quick/_build/html``

Warnings are errors (``-W``) and a failing notebook cell fails the build. Quick and full
builds keep separate jupyter-caches, so a quick run is never served as the full book.

No stale results: the build's *fingerprint* hashes the package's sources, the chapters,
the mode and ``WORMHOLE_SEED_OFFSET``. When it differs from the fingerprint of the cached
build, the execution cache and the saved metrics are deleted before anything executes,
so a chapter served from the cache is always the one the current sources produce. Every
metrics file is stamped with the fingerprint (``WORMHOLE_FINGERPRINT``) and the results page,
which is re-executed on every build, refuses files with another stamp.

Chapters run side by side. Before Sphinx starts, every chapter that the cache does not hold
is executed ahead, ``--jobs`` at a time (default: 2 where there are 2 cores or more), each
kernel with its share of the cores as torch threads (``OMP_NUM_THREADS``), and stored in the
jupyter-cache exactly as myst-nb stores what it executes; Sphinx then finds them there. Small
meta-learning steps gain little from a second thread, so two one-thread chapters side by side
finish sooner than one after the other with two threads each. A notebook that asks myst-nb to
always execute it (``mystnb.execution_mode: force``: the results page, which reads what the
others save) is left to Sphinx, which runs it after them. The longest chapters start first:
by the times of the last build in this folder (``_build/chapter-times.json``), else by the
times committed in ``tools/chapter_durations.json`` (``--store-durations`` rewrites them from
this build, as pytest-split stores test durations), else in the order of ``_toc.yml``. These
times only order the work; no page shows them. A chapter that fails stops the build before
Sphinx starts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import repository  # noqa: E402
from wormhole.book import cpu_path, seed_offset, source_fingerprint  # noqa: E402


def chapter_times(cache_dir: Path) -> list[tuple[str, float]]:
    """(notebook, seconds) for every notebook in the jupyter-cache, from its last execution."""
    from jupyter_cache import get_cache

    if not cache_dir.exists():
        return []
    latest = {}
    for record in sorted(get_cache(str(cache_dir)).list_cache_records(), key=lambda r: r.created):
        seconds = (record.data or {}).get("execution_seconds")
        if seconds is not None:
            latest[Path(record.uri).name] = float(seconds)  # a later record replaces an earlier one
    return sorted(latest.items())


def fingerprint(quick: bool, root: Path = ROOT) -> str:
    """What decides this build's numbers: sources, chapters, mode, seed offset and the CPU's
    floating-point path (``ATEN_CPU_CAPABILITY``, :func:`wormhole.book.cpu_path`)."""
    return f"{source_fingerprint(root)}-{'quick' if quick else 'full'}-seeds{seed_offset()}-cpu{cpu_path()}"


def prepare(cache_dir: Path, metrics: Path, stamp: str) -> bool:
    """Delete the execution cache and the saved metrics unless both belong to ``stamp``;
    return whether they were deleted. Then record ``stamp`` as the cache's fingerprint."""
    stamp_file = cache_dir.with_name(cache_dir.name + ".fingerprint")
    fresh = not stamp_file.exists() or stamp_file.read_text() != stamp
    if fresh:
        shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.rmtree(metrics, ignore_errors=True)
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    metrics.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(stamp)
    return fresh


DURATIONS = ROOT / "tools" / "chapter_durations.json"


def scheduling_times(last_build: Path, mode: str, durations: Path = DURATIONS) -> dict[str, float]:
    """Seconds per chapter to order the work by: the last build's in this folder, else the
    committed ones for ``mode`` ("full" or "quick"), else none."""
    if last_build.exists():
        return json.loads(last_build.read_text())
    if durations.exists():
        return json.loads(durations.read_text()).get(mode, {})
    return {}


def store_durations(times: dict[str, float], mode: str, durations: Path = DURATIONS) -> None:
    """Write this build's chapter times for ``mode`` into ``durations`` (rounded to seconds)."""
    stored = json.loads(durations.read_text()) if durations.exists() else {}
    stored[mode] = {name: round(seconds) for name, seconds in sorted(times.items())}
    durations.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")


def toc_notebooks(root: Path) -> list[Path]:
    """The notebooks of ``_toc.yml`` in the order of the table of contents."""
    import yaml

    def files(entry):
        if isinstance(entry, dict):
            if "file" in entry:
                yield entry["file"]
            for value in entry.values():
                yield from files(value)
        elif isinstance(entry, list):
            for item in entry:
                yield from files(item)

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    return [root / f"{f}.ipynb" for f in files(toc) if (root / f"{f}.ipynb").exists()]


def execution_timeout(root: Path) -> int:
    """Seconds a cell may run: ``_config.yml``'s ``execute.timeout``, which Sphinx's executions use too."""
    import yaml

    return int(yaml.safe_load((root / "_config.yml").read_text())["execute"]["timeout"])


def runs_ahead(path: Path) -> bool:
    """Whether ``path`` may execute before Sphinx starts: myst-nb would serve it from the cache
    (no ``mystnb.execution_mode`` of its own other than ``cache``)."""
    import nbformat

    mode = nbformat.read(path, as_version=4).metadata.get("mystnb", {}).get("execution_mode", "cache")
    return mode == "cache"


def longest_cell(nb) -> tuple[int, float] | None:
    """``(index, seconds)`` of the code cell that ran longest in an executed notebook, from the
    timestamps nbclient records in each cell's metadata (``None`` without any)."""
    from datetime import datetime

    best = None
    for i, cell in enumerate(nb.cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        start, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
        if cell.cell_type != "code" or not start or not end:
            continue
        seconds = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                   - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
        if best is None or seconds > best[1]:
            best = (i, seconds)
    return best


def _execute(path: str, timeout: int, threads: int, env: dict[str, str]):
    """Run in a worker process: execute one notebook as myst-nb would (its folder as the working
    directory) with ``env`` and ``threads`` torch threads; return the notebook, seconds and any traceback."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    os.environ.update(env)  # this worker's environment, which the kernel inherits
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                 record_timing=True)
    longest = longest_cell(nb)
    for cell in nb.cells:   # the timestamps have been read; the cached page stays as myst-nb writes it
        cell.get("metadata", {}).pop("execution", None)
    return nb, result.time, result.exc_string if result.err is not None else None, longest


def execute_ahead(notebooks: list[Path], cache_dir: Path, jobs: int, timeout: int,
                  order: dict[str, float], env: dict[str, str] | None = None,
                  cell_times: Path | None = None) -> list[str]:
    """Execute the ``notebooks`` the jupyter-cache at ``cache_dir`` does not hold, ``jobs`` at a time,
    the longest (by ``order``: seconds, by file name) first, with the environment variables ``env``
    added, and cache each as myst-nb does. Returns the names of the notebooks that failed (their
    tracebacks are printed). Each executed chapter's longest cell is recorded in ``cell_times``
    (JSON, ``{chapter: {"cell", "seconds", "limit"}}``; entries of chapters not executed are kept),
    and a warning is printed for a cell over half the per-cell ``timeout``: a machine half as fast
    would then fail the build."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_dir))
    todo = []
    for path in notebooks:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            todo.append(path)
    todo.sort(key=lambda p: -order.get(p.name, float("inf")))  # stable: unknown ones in toc order, first
    if not todo:
        return []
    threads = max(1, (os.cpu_count() or 1) // jobs)
    print(f"executing {len(todo)} chapter(s), {jobs} at a time with {threads} torch thread(s) each: "
          + ", ".join(p.name for p in todo), flush=True)
    failed, t0 = [], time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        running = {pool.submit(_execute, str(p), timeout, threads, env or {}): p for p in todo}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                path = running.pop(future)
                nb, seconds, error, longest = future.result()
                if error is not None:
                    failed.append(path.name)
                    print(f"  {path.name} FAILED after {seconds:.0f} s:\n{error}", file=sys.stderr, flush=True)
                    continue
                if longest is not None and cell_times is not None:
                    known = json.loads(cell_times.read_text()) if cell_times.exists() else {}
                    known[path.stem] = {"cell": longest[0], "seconds": round(longest[1], 1), "limit": timeout}
                    cell_times.parent.mkdir(parents=True, exist_ok=True)
                    cell_times.write_text(json.dumps(known, indent=1, sort_keys=True))
                    if longest[1] > timeout / 2:
                        print(f"  warning: {path.name} cell {longest[0]} ran {longest[1]:.0f} s, over half the "
                              f"per-cell limit ({timeout} s): a machine half as fast would fail", flush=True)
                record = cache.add_nb_to_project(str(path))
                cache.cache_notebook_bundle(CacheBundleIn(nb, record.uri, data={"execution_seconds": seconds}),
                                            check_validity=False, overwrite=True)
                print(f"  {path.name} executed in {seconds:.0f} s ({time.perf_counter() - t0:.0f} s into the build)",
                      flush=True)
    return failed


def main(argv=None, root: Path = ROOT) -> int:
    """Build the book whose ``_config.yml`` and ``_toc.yml`` are in ``root`` (this repository)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quick mode: tiny sizes, separate output folder")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="chapters executed side by side (default: 2, or 1 on one core)")
    parser.add_argument("--store-durations", action="store_true",
                        help=f"after a successful build, store its chapter times in {DURATIONS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    # the install cells pin the package this build runs on, before the fingerprint reads the chapters
    ref, pinned = repository.pin_notebooks(root=root)
    if pinned:
        print(f"install cells pinned to {ref} in {len(pinned)} notebook(s); commit them with the build")
    if ref is not None and repository.package_is_dirty(root):
        print(f"warning: the package has uncommitted changes, so the install cells' {ref} is not the package built",
              file=sys.stderr)
    out = root / "_build" / "quick" if args.quick else root
    env = dict(os.environ)
    if args.quick:
        env["WORMHOLE_QUICK"] = "1"
    else:
        env.pop("WORMHOLE_QUICK", None)
    stamp = fingerprint(args.quick, root)
    metrics = root / "_build" / ("metrics-quick" if args.quick else "metrics")
    if prepare(out / "_build" / ".jupyter_cache", metrics, stamp):
        print(f"fingerprint {stamp}: sources, mode or seeds changed, so every chapter executes afresh")
    # WORMHOLE_STATIC: the outputs become web pages, so no widgets (wormhole.book.static);
    # TQDM_DISABLE: and no progress bars, which would freeze on the page
    # WORMHOLE_BUILD_STARTED: the timings page tells chapters executed in this build from cached ones
    cell_times = out / "_build" / "cell-times.json"   # each chapter's longest cell, for the timings page
    env.update(WORMHOLE_FINGERPRINT=stamp, WORMHOLE_METRICS_DIR=str(metrics), WORMHOLE_STATIC="1", TQDM_DISABLE="1",
               WORMHOLE_BUILD_STARTED=str(time.time()), WORMHOLE_BUILD_JOBS=str(args.jobs),
               WORMHOLE_CELL_TIMES=str(cell_times))
    cache_dir = out / "_build" / ".jupyter_cache"
    times_file = out / "_build" / "chapter-times.json"  # a scheduling hint only: never a number in the book
    mode = "quick" if args.quick else "full"
    order = scheduling_times(times_file, mode)
    t0 = time.perf_counter()
    ahead = [p for p in toc_notebooks(root) if runs_ahead(p)]
    failed = execute_ahead(ahead, cache_dir, args.jobs, timeout=execution_timeout(root), order=order, env=env,
                           cell_times=cell_times)
    if failed:
        print(f"book build FAILED: {', '.join(failed)} raised (above); Sphinx did not start", file=sys.stderr)
        return 1
    jb = Path(sys.executable).with_name("jupyter-book")
    # --all: Sphinx re-reads every page. Left to itself it re-reads only pages whose source file
    # changed, so a new fingerprint (package, seeds) would re-execute the chapters into the cache
    # and still serve the pages of the previous build.
    cmd = [str(jb), "build", str(root), "-W", "--keep-going", "--all", "--path-output", str(out)]
    result = subprocess.run(cmd, env=env, cwd=root)
    total = time.perf_counter() - t0
    print("\nchapter execution times (seconds, from jupyter-cache; cached chapters keep their last time):")
    times = chapter_times(cache_dir)
    times_file.write_text(json.dumps(dict(times), indent=1))
    for name, seconds in times:
        print(f"  {name:<40} {seconds:8.1f}")
    print(f"  {'all chapters':<40} {sum(s for _, s in times):8.1f}")
    print(f"build took {total:.0f} s ({mode} mode)")
    if result.returncode != 0:
        print("book build FAILED", file=sys.stderr)
        return result.returncode
    if args.store_durations:
        store_durations(dict(times), mode)
        print(f"stored the chapter times in {DURATIONS}")
    print(f"start page: {out / '_build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
