"""How much ``import wormhole`` adds to ``import torch``, as a ratio in one run (target: <= 0.25).

Each import runs in a fresh interpreter (``-X importtime``), ``--repeat`` times; the medians
are compared. Run: ``python benchmarks/import_time.py``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys


def cumulative_us(code: str, *modules: str) -> list[int]:
    """Microseconds ``-X importtime`` reports for each of ``modules`` (cumulative) in one run of ``code``."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                         check=True).stderr
    found = {}
    for line in err.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] in modules:
            found[parts[2]] = int(parts[1])
    missing = [m for m in modules if m not in found]
    if missing:
        raise RuntimeError(f"{missing} not in the import-time report")
    return [found[m] for m in modules]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch_us, extra_us = [], []
    for _ in range(args.repeat):
        total, torch = cumulative_us("import wormhole", "wormhole", "torch")
        torch_us.append(torch)
        extra_us.append(total - torch)
    t, e = statistics.median(torch_us), statistics.median(extra_us)
    ratio = e / t
    print(f"import torch: {t / 1e6:.2f} s; wormhole on top: {e / 1e6:.2f} s; ratio {ratio:.2f} "
          f"(target <= 0.25: {'met' if ratio <= 0.25 else 'missed'})")


if __name__ == "__main__":
    main()
