"""Profile one chapter's fair fight: where the time goes, by phase and by torch operator.

Runs the protocol of a reproduction chapter (``wormhole.tuning.fair_fight``: tuning, the
convergence of every selected method, the comparison on two seed sets) on that chapter's
problem, at a size given on the command line, under ``torch.profiler``. It prints

* the phases the package timed itself (``wormhole.timing``), as the book's execution-times page
  does, and
* the torch operators with the most self CPU time.

Run: ``python benchmarks/profile_chapter.py --problem wavelet --scale 0.1`` (``--scale 1`` is
the chapter's own budget, which takes as long as the chapter's fair fight; the profiler then
needs minutes more to summarise the operators it recorded). ``last_profile_run.txt`` holds the
output of one run.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

import wormhole as wh

#: each chapter's fair fight at full scale: model, loss, α, family, and its budgets
PROBLEMS = {
    "threshold": (lambda: wh.models.MLP(1, (40, 40), 1), "bce", 0.4, lambda: wh.tasks.Threshold(shots=5, queries=20),
                  dict(k=24, rungs=(62, 250, 1000), converge_cap=2000, meta_batch=25,
                       fresh=30, n_validation=500, n_eval=1000)),
    "wavelet": (lambda: wh.models.MLP(1, (40, 40), 1), "mse", 0.01, lambda: wh.tasks.WaveletRegression(),
                dict(k=24, rungs=(125, 500, 2000), converge_cap=2000, meta_batch=25,
                     fresh=20, n_validation=500, n_eval=1000)),
    "mnist": (lambda: wh.models.MLP(784, (64, 64), 1), "bce", 0.4, lambda: wh.tasks.MNISTPairs(split="train"),
              dict(k=24, rungs=(25, 100, 400), converge_cap=800, meta_batch=8,
                   fresh=12, n_validation=200, n_eval=500)),
}


def scaled(budget: dict, scale: float) -> dict:
    """The budget with every size multiplied by ``scale`` (at least what the protocol needs to run)."""
    def s(n, least):
        return max(least, round(n * scale))

    rungs = []
    for r in budget["rungs"]:   # scaled, and still increasing
        rungs.append(max(s(r, 2), rungs[-1] + 1 if rungs else 2))
    return dict(k=s(budget["k"], 4), rungs=tuple(rungs), converge_cap=s(budget["converge_cap"], 4),
                meta_batch=budget["meta_batch"], fresh=s(budget["fresh"], 4),
                n_validation=s(budget["n_validation"], 16), n_eval=s(budget["n_eval"], 16))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=sorted(PROBLEMS), default="wavelet")
    parser.add_argument("--scale", type=float, default=0.25, help="fraction of the chapter's budget (1 = full)")
    parser.add_argument("--top", type=int, default=15, help="how many operators to list")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the book runs chapters on one)")
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        raise ValueError(f"--scale must lie in (0, 1], got {args.scale}")
    torch.set_num_threads(args.threads)
    make_model, loss, alpha, make_tasks, full = PROBLEMS[args.problem]
    b = scaled(full, args.scale)
    tasks = make_tasks()
    grids = wh.tuning.standard_grids(make_model(), loss, alpha, k=b["k"])
    wh.timing.reset()
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        plan = wh.tuning.SearchPlan(rungs=b["rungs"], meta_batch=b["meta_batch"], meta_lr=3e-3,
                                    n_validation=b["n_validation"], progress=False, device="cpu")
        wh.tuning.fair_fight(f"profile-{args.problem}", grids, tasks, tasks, plan=plan, tuning_seeds=[50, 51],
                             seeds=list(range(b["fresh"])), converge_cap=b["converge_cap"], n_eval=b["n_eval"],
                             log_every=50)
    wall = time.perf_counter() - t0   # includes the profiler's own bookkeeping at exit
    phases = wh.timing.summary()
    timed = sum(p["seconds"] for p in phases.values())
    print(f"{args.problem} fair fight at {args.scale:g} of the chapter's budget {b}, {args.threads} thread(s): "
          f"{timed:.1f} s in the protocol's phases ({wall:.1f} s with the profiler's overhead)")
    print("\nphases (wormhole.timing; a nested phase counts only in the inner one; share of the phases' total):")
    for name, p in phases.items():
        print(f"  {name:<38} {p['seconds']:8.1f} s  {p['seconds'] / timed:5.0%}  ({p['calls']} calls)")
    print(f"\ntop {args.top} torch operators by self CPU time (the profiler adds overhead; compare shares, not seconds):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top, max_name_column_width=40))


if __name__ == "__main__":
    main()
