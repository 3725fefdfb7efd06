"""``python -m wormhole run PROBLEM ...`` and ``python -m wormhole fight FAMILY --model MODEL``.

``run`` meta-trains one or both methods (MAML, Wormhole MAML, with the preset of
:func:`wormhole.experiments.preset`) on one of the paper's problems for several seeds,
evaluates every run on the same held-out tasks (:func:`wormhole.experiments.compare`), and
writes ``metrics.json`` (:meth:`wormhole.experiments.Comparison.save`) and three figures,
``training_curves.png``, ``inner_steps.png`` and ``conflict.png``, to ``--out``; it prints the
table of :meth:`wormhole.experiments.Comparison.table`.

``fight`` asks whether the wormhole is worth it on a reader's own problem
(:func:`wormhole.fight.fair_fight`): ``FAMILY`` and ``MODEL`` are importable names
(``package.module:Name``; a class is called without arguments), ``--budget`` one of
``tiny``, ``small``, ``book``. It prints a line per phase and the verdict, and writes
``fight.json`` and ``forest.png`` to ``--out``. A bad name or argument exits with status 2 and a
message naming it, before anything is written.
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
    f = sub.add_parser("fight", help="is the wormhole worth it on my problem? the book's fair fight and verdict",
                       description="Example: python -m wormhole fight mytasks:Family --model mytasks:Net "
                                   "--budget small --out runs/fight")
    f.add_argument("family", help="the task family, package.module:Name (a TaskFamily subclass or instance)")
    f.add_argument("--model", required=True, help="the model, package.module:Name (an nn.Module class or instance)")
    f.add_argument("--budget", default="small", help="tiny, small or book (default small)")
    f.add_argument("--inner-lr", type=float, default=None, help="centre of the α range (default 0.01)")
    f.add_argument("--seed", type=int, default=0, help="every seed of the fight derives from it (default 0)")
    f.add_argument("--device", default="auto", help="'auto' (CUDA if available), 'cpu' or 'cuda'")
    f.add_argument("--out", default="runs/fight", help="output folder for fight.json and forest.png")
    f.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p


def load_object(spec: str, what: str):
    """The object named ``package.module:Name`` (a class is called without arguments); ``ValueError``
    naming ``what`` when it does not import."""
    import importlib
    import inspect

    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"{what} must be package.module:Name, got {spec!r}")
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{what} {spec!r} does not import: {err}") from None
    return obj() if inspect.isclass(obj) else obj


def fight(args) -> int:
    """``python -m wormhole fight``: validate everything, then run :func:`wormhole.fight.fair_fight`."""
    import os
    import time

    from . import fight as one_call
    from .tasks.base import TaskFamily

    sys.path.insert(0, os.getcwd())   # a reader's own module in the folder they run from
    try:
        plan = one_call.resolve_budget(args.budget)
        tasks = load_object(args.family, "family")
        if not isinstance(tasks, TaskFamily):
            raise ValueError(f"family {args.family!r} is not a wormhole.tasks.TaskFamily "
                             f"(got {type(tasks).__name__})")
        model = load_object(args.model, "model")
        one_call.check_model(model, tasks, one_call.check_tasks(tasks))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    start = time.time()

    def announce(message: str) -> None:
        print(f"[{time.time() - start:6.0f} s] {message}", flush=True)

    announce(f"a fair fight on {type(tasks).__name__} with {type(model).__name__}, {plan.name} budget")
    result = one_call.fair_fight(tasks, model, budget=plan, inner_lr=args.inner_lr, seed=args.seed, out=args.out,
                                 device=args.device, progress=not args.no_progress, announce=announce)
    announce("judged")
    print(result)
    print(f"wrote {args.out}/fight.json and {args.out}/forest.png")
    return 0


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status (0)."""
    args = build_parser().parse_args(argv)
    if args.command == "fight":
        return fight(args)
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
