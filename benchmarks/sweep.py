"""Time a 10-configuration × 5-seed sweep against one configuration's 5-seed run, in one run.

    python benchmarks/sweep.py                  # 200 meta-iterations each, best of 2 (a few minutes on 2 cores)
    python benchmarks/sweep.py --iterations 50  # quicker
    python benchmarks/sweep.py --threads 1      # one thread
    python benchmarks/sweep.py --device cuda    # on a GPU

Both train Wormhole MAML (MLP 1-40-40-1, threshold tasks, meta-batch 25, one inner step) with
``meta_train_sweep`` / ``meta_train_seeds`` exactly as the chapters call them (diagnostics every
50 iterations included). The ten configurations differ in α, α_w and w₀. The target is
a ratio (sweep / one configuration) of at most 3.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

import wormhole as wh


def configurations() -> list:
    """Ten Wormhole configurations: α ∈ {0.1, 0.4} × (α_w, w₀) ∈ five pairs."""
    pairs = ((None, 1.0), (4.0, 1.0), (40.0, 1.0), (4.0, 0.5), (4.0, 0.1))
    return [wh.Wormhole(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=a, wormhole_lr=aw, wormhole_init=w0)
            for a in (0.4, 0.1) for aw, w0 in pairs]


def _seconds(run, device) -> float:
    """Wall-clock seconds of ``run()``, waiting for queued CUDA work before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda' or 'auto'")
    args = parser.parse_args(argv)
    device = wh.resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tasks, seeds, learners = wh.tasks.Threshold(), range(5), configurations()
    common = dict(iterations=args.iterations, meta_batch=25, meta_lr=1e-3, progress=False, log_every=50, device=device)
    wh.meta_train_sweep(learners, tasks, seeds, iterations=2, meta_batch=25, progress=False, device=device)  # warm-up
    one, sweep = [], []
    for _ in range(args.repeats):  # alternate, so that a change in machine load hits both alike
        one.append(_seconds(lambda: wh.meta_train_seeds(learners[0], tasks, seeds, **common), device))
        sweep.append(_seconds(lambda: wh.meta_train_sweep(learners, tasks, seeds, **common), device))
    a, b = min(one), min(sweep)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, {args.iterations} meta-iterations, "
          f"best of {args.repeats}")
    print(f"one configuration x 5 seeds: {a:.2f} s ({1000 * a / args.iterations:.1f} ms/iteration)")
    print(f"10 configurations x 5 seeds: {b:.2f} s ({1000 * b / args.iterations:.1f} ms/iteration)")
    print(f"ratio (sweep / one configuration): {b / a:.2f}x (target <= 3x; 10 separate runs would be 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
