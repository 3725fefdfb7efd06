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
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wormhole.book import seed_offset, source_fingerprint  # noqa: E402


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


def fingerprint(quick: bool) -> str:
    """What decides this build's numbers: sources, chapters, mode and seed offset."""
    return f"{source_fingerprint(ROOT)}-{'quick' if quick else 'full'}-seeds{seed_offset()}"


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quick mode: tiny sizes, separate output folder")
    args = parser.parse_args(argv)
    out = ROOT / "_build" / "quick" if args.quick else ROOT
    env = dict(os.environ)
    if args.quick:
        env["WORMHOLE_QUICK"] = "1"
    else:
        env.pop("WORMHOLE_QUICK", None)
    stamp = fingerprint(args.quick)
    metrics = ROOT / "_build" / ("metrics-quick" if args.quick else "metrics")
    if prepare(out / "_build" / ".jupyter_cache", metrics, stamp):
        print(f"fingerprint {stamp}: sources, mode or seeds changed, so every chapter executes afresh")
    # WORMHOLE_STATIC: the outputs become web pages, so no widgets and no progress bars (wormhole.book.static)
    env.update(WORMHOLE_FINGERPRINT=stamp, WORMHOLE_METRICS_DIR=str(metrics), WORMHOLE_STATIC="1")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(ROOT), "-W", "--keep-going", "--path-output", str(out)]
    t0 = time.perf_counter()
    result = subprocess.run(cmd, env=env, cwd=ROOT)
    total = time.perf_counter() - t0
    print("\nchapter execution times (seconds, from jupyter-cache; cached chapters keep their last time):")
    times = chapter_times(out / "_build" / ".jupyter_cache")
    for name, seconds in times:
        print(f"  {name:<40} {seconds:8.1f}")
    print(f"  {'all chapters':<40} {sum(s for _, s in times):8.1f}")
    print(f"build took {total:.0f} s ({'quick' if args.quick else 'full'} mode)")
    if result.returncode != 0:
        print("book build FAILED", file=sys.stderr)
        return result.returncode
    print(f"start page: {out / '_build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
