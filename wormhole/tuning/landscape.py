"""Where the wormhole helps: Wormhole's paired improvement over a baseline across (α_w, w₀)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .. import _checks
from ..diagnostics import adaptation_statistics
from ..evaluation import evaluate
from ..experiments import Comparison, usage_tasks
from ..learners import Wormhole
from ..stats import Paired, paired
from ..timing import phase
from ..tasks.base import TaskFamily
from ..training import meta_train_sweep


@dataclass
class Landscape:
    """Wormhole's paired improvement over a baseline across a grid of (α_w, w₀).

    ``improvement[i, j]`` (positive = better), ``half_width[i, j]`` and ``p_value[i, j]`` for
    ``wormhole_lrs[i]`` and ``w0s[j]`` (the paired comparison of :func:`wormhole.stats.paired`
    over the seeds of the baseline's comparison); ``flip_per_seed[i, j, s]``: the fraction of
    flipped tasks on which the adapted w changed sign, for seed ``s`` (NaN where that run
    diverged or the family has no flipped tasks), shape ``(len(wormhole_lrs), len(w0s), seeds)``;
    ``flip_fraction[i, j]``: its mean over the finite seeds."""

    wormhole_lrs: list
    w0s: list
    inner_lr: float
    metric: str
    steps: int
    baseline: str
    results: list  # results[i][j]: Paired
    flip_per_seed: np.ndarray

    @property
    def flip_fraction(self) -> np.ndarray:
        """Mean of ``flip_per_seed`` over the finite seeds (NaN where none is finite)."""
        finite = np.isfinite(self.flip_per_seed)
        count = finite.sum(axis=-1)
        total = np.where(finite, self.flip_per_seed, 0.0).sum(axis=-1)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def flip_contrast(self, cell, reference, level: float = 0.95) -> Paired:
        """Paired by seed: the flip fraction of grid ``cell`` ``(i, j)`` minus that of ``reference``
        (positive = ``cell`` flips w more often), a :class:`~wormhole.stats.Paired`."""
        (i, j), (k, m) = cell, reference
        return paired(self.flip_per_seed[i, j], self.flip_per_seed[k, m], higher_is_better=True, level=level,
                      label=f"flips at (α_w={self.wormhole_lrs[i]:.3g}, w₀={self.w0s[j]:g}) vs "
                            f"(α_w={self.wormhole_lrs[k]:.3g}, w₀={self.w0s[m]:g})")

    @property
    def improvement(self) -> np.ndarray:
        return np.array([[r.improvement for r in row] for row in self.results])

    @property
    def half_width(self) -> np.ndarray:
        return np.array([[r.half_width for r in row] for row in self.results])

    @property
    def p_value(self) -> np.ndarray:
        return np.array([[r.p_value for r in row] for row in self.results])

    def best(self) -> tuple[float, float, Paired]:
        """``(α_w, w₀, comparison)`` of the cell with the largest mean improvement."""
        i, j = np.unravel_index(np.nanargmax(self.improvement), self.improvement.shape)
        return self.wormhole_lrs[i], self.w0s[j], self.results[i][j]


def landscape(comparison: Comparison, template, wormhole_lrs, w0s, *, train_tasks: TaskFamily,
              eval_tasks: TaskFamily, baseline: str = "MAML", metric: str = "loss", steps: int = 1,
              progress: bool = True, device="auto") -> Landscape:
    """Train ``template`` (a :class:`~wormhole.Wormhole`) at every (α_w, w₀) of the grid, in one
    vectorised sweep, with the seeds, budget and evaluation tasks of ``comparison``, and compare
    each cell, paired by seed, with ``comparison[baseline]``.

    The template keeps its own α (pass the baseline's α so that only the wormhole differs).

    Raises:
        ValueError: ``template`` is not a Wormhole with a fixed α_w, or the grid is empty.
    """
    if not isinstance(template, Wormhole) or template.describe().get("learn_wormhole_lr"):
        raise ValueError("template must be a wh.Wormhole with a fixed wormhole_lr (learn_wormhole_lr=False)")
    wormhole_lrs = [_checks.positive("wormhole_lrs", float(v)) for v in wormhole_lrs]
    w0s = [float(v) for v in w0s]
    if not wormhole_lrs or not w0s:
        raise ValueError("wormhole_lrs and w0s must each name at least one value")
    cfg = comparison.config
    args = {k: v for k, v in template._arguments.items() if k not in ("model", "wormhole_lr", "wormhole_init")}
    grid = [Wormhole(copy.deepcopy(template.model), **args, wormhole_lr=a, wormhole_init=w)
            for a in wormhole_lrs for w in w0s]
    with phase("landscape: training"):
        runs = meta_train_sweep(grid, train_tasks, cfg["seeds"], cfg["iterations"], meta_batch=cfg["meta_batch"],
                                meta_lr=cfg["meta_lr"], progress=progress, log_every=max(cfg["iterations"], 1),
                                device=device, on_nonfinite="continue")
    base = comparison[baseline].per_seed(steps, metric)
    usage_batch = usage_tasks(eval_tasks, cfg["n_eval"], cfg["eval_seed"])
    results, flips = [], []
    higher = metric == "accuracy"
    for c, config_runs in enumerate(runs):
        values, flip = [], []
        for run in config_runs:
            if run.history.diverged_at is not None:
                values.append(np.nan)
                flip.append(np.nan)  # keeps flip[s] aligned with seed s
                continue
            ev = evaluate(run.learner, eval_tasks, cfg["n_eval"], steps=(steps,), seed=cfg["eval_seed"], device=device)
            values.append(float(getattr(ev, metric)[:, 0].mean()))
            stats = adaptation_statistics(run.learner, usage_batch.to(next(run.learner.parameters()).device))
            flip.append(stats.get("flip_fraction_flipped_tasks", np.nan))
        results.append(paired(values, base, higher_is_better=higher,
                              label=f"Wormhole(α_w={grid[c].effective_wormhole_lr:.3g}, w₀={w0s[c % len(w0s)]:g}) "
                                    f"vs {baseline}"))
        flips.append(flip)
    shape = (len(wormhole_lrs), len(w0s), len(cfg["seeds"]))
    grid_results = [results[i * len(w0s):(i + 1) * len(w0s)] for i in range(len(wormhole_lrs))]
    return Landscape(wormhole_lrs, w0s, float(template.describe().get("inner_lr", np.nan)), metric, steps, baseline, grid_results,
                     np.array(flips, dtype=float).reshape(shape))
