"""Build the book with Jupyter Book 1.x and report what each chapter cost.

``python tools/build_book.py``          full scale, into ``_build/html``
``python tools/build_book.py --quick``  quick mode (WORMHOLE_QUICK=1), into ``_build/quick/_build/html``

Warnings are errors (``-W``) and a failing notebook cell fails the build. Quick and full
builds keep separate jupyter-caches, so a quick run is never served as the full book.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
