"""``python -m wormhole run PROBLEM --method METHOD ...``: one experiment from the shell.

``run`` meta-trains one or both methods (MAML, Wormhole MAML, with the preset of
:func:`wormhole.experiments.preset`) on one of the paper's problems for several seeds,
evaluates every run on the same held-out tasks (:func:`wormhole.experiments.compare`), and
writes ``metrics.json`` (:meth:`wormhole.experiments.Comparison.save`) and three figures,
``training_curves.png``, ``inner_steps.png`` and ``conflict.png``, to ``--out``; it prints the
table of :meth:`wormhole.experiments.Comparison.table`.
"""

from __future__ import annotations

import argparse
import sys

import matplotlib

matplotlib.use("Agg")  # the CLI writes PNG files; it never opens a window


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m wormhole`` (its ``run`` subcommand and every option)."""
    p = argparse.ArgumentParser(prog="python -m wormhole", description=(
        "Wormhole MAML experiments. 'run' meta-trains one method on one problem for several seeds, "
        "evaluates on held-out tasks, and writes metrics.json plus PNG figures to --out."))
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="meta-train and evaluate one method on one problem",
                       description="Example: python -m wormhole run threshold --method wormhole --seeds 5 "
                                   "--iterations 1000 --out runs/threshold")
    r.add_argument("problem", choices=["threshold", "wavelet", "mnist"], help="which of the paper's three problems")
    r.add_argument("--method", choices=["maml", "wormhole"], nargs="+", default=["maml", "wormhole"],
                   help="one or more methods (default: both, same seeds and budget)")
    r.add_argument("--seeds", type=int, default=5, help="number of seeds, 0..N-1 (default 5)")
    r.add_argument("--iterations", type=int, default=1000, help="meta-iterations per seed (default 1000)")
    r.add_argument("--meta-batch", type=int, default=25, help="tasks per meta-batch (default 25)")
    r.add_argument("--eval-tasks", type=int, default=500, help="evaluation tasks (default 500)")
    r.add_argument("--device", default="auto", help="'auto' (CUDA if available), 'cpu' or 'cuda'")
    r.add_argument("--out", default="runs", help="output folder for metrics.json and figures (default runs/)")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status (0)."""
    args = build_parser().parse_args(argv)
    from pathlib import Path

    from . import experiments, plotting

    if args.seeds < 1:
        raise SystemExit("--seeds must be >= 1")
    learners, train, test, meta_lr = {}, None, None, None
    for method in args.method:
        learners[method], train, test, meta_lr = experiments.preset(args.problem, method)
    result = experiments.compare(args.problem, learners, train, test, seeds=range(args.seeds),
                                 iterations=args.iterations, meta_batch=args.meta_batch, meta_lr=meta_lr,
                                 n_eval=args.eval_tasks, log_every=max(1, args.iterations // 20),
                                 progress=not args.no_progress, device=args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.save(out / "metrics.json")
    for name, fig in (("training_curves", plotting.training_curves(result)),
                      ("inner_steps", plotting.inner_steps(result)), ("conflict", plotting.conflict(result))):
        fig.savefig(out / f"{name}.png", dpi=110)
    print(result.table())
    print(f"wrote {out / 'metrics.json'} and figures to {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
