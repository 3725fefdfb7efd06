"""Fair tuning: every method gets the same budget, selection on a validation stream.

The protocol, in three calls:

1. :func:`tune` trains every configuration of every method's grid (grids of equal size K,
   the same iterations and tuning seeds for all: the *budget*) on the training stream, with
   :func:`~wormhole.meta_train_sweep` (configurations of one method that differ only in numbers
   train together), and scores each on the **validation** tasks: the family's validation split
   where it has one (MNIST: images disjoint from training and test), always the validation
   stream (:func:`~wormhole.seeding.stream_seed` purpose ``"validation"`` of the first tuning
   seed, which coincides with neither the training nor the evaluation stream and moves with the
   seeds). The rule (:data:`SELECTION_RULE`): the best mean of the *judged* metric
   (:func:`wormhole.evaluation.judged_metric`: accuracy for classification, loss for
   regression) over the tuning seeds, each seed's mean over ``n_validation`` tasks, after the
   learner's own number of training inner steps (the step count the claims are judged at); a
   diverged run scores worst; ties go to the earlier grid entry.
2. :func:`converged_budget` grows the budget of one learner (the selected MAML) until its
   validation curve is flat: the last 20% of training changes the validation loss by less than
   the 95% CI of that loss (over seeds).
3. :func:`compare_selected` retrains the selected configurations with **fresh** seeds and
   evaluates them on the evaluation stream through :func:`wormhole.experiments.compare`, so a
   chapter gets an ordinary :class:`~wormhole.experiments.Comparison` (with the tuning record
   under ``config["tuning"]``).

Grids: :func:`log_grid` and :func:`standard_grids` (the book's grids for MAML, Wormhole and the
two ablations, each of K configurations).

Where a full search does not fit the time budget (the MNIST ConvNet on the CPU), the supported
route is to **select on the MNIST MLP and carry the settings over**: tune the MLP, then build
the ConvNet learners with the selected numbers (``tuning[name].selected_record``) and pass them
to :func:`~wormhole.experiments.compare`; say so in the chapter. Successive halving is not
implemented.

Example::

    grids = wh.tuning.standard_grids(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4, k=12)
    tuning = wh.tuning.tune(grids, wh.tasks.Threshold(), wh.tasks.Threshold(), iterations=1000,
                            seeds=range(100, 103))
    print(tuning.table())
    comparison = wh.tuning.compare_selected("threshold-tuned", tuning, wh.tasks.Threshold(),
                                            wh.tasks.Threshold(), seeds=range(10))
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import _checks
from .diagnostics import adaptation_statistics
from .evaluation import HIGHER_IS_BETTER, evaluate, judged_metric
from .experiments import Comparison, compare
from .seeding import seed_sets, stream_seed
from .learners import MAML, LearnedScale, LearnedStep, MetaLearner, Wormhole
from .report import SETTINGS, selected_table, setting_values, short
from .stats import Paired, fmt, mean_ci, paired
from .timing import phase
from .tasks.base import TaskFamily
from .training import check_sweep, meta_train_seeds, meta_train_sweep

#: the names :func:`standard_grids` gives the methods
METHODS = ("MAML", "Wormhole", "learned scale", "learned step")
#: the convergence rule's tail: a budget N is flat when its last FLAT_TAIL of training moves the validation score
#: by less than that score's 95% CI (:func:`converged_budget`)
FLAT_TAIL = 0.2


# ---------------------------------------------------------------- grids
def log_grid(center: float, decades: float = 1.0, n: int = 5) -> list[float]:
    """``n`` values log-spaced from ``center / 10**decades`` to ``center * 10**decades``
    (``[center]`` for ``n = 1``; the centre itself is on the grid for odd ``n``)."""
    center = _checks.positive("center", center)
    decades = _checks.positive("decades", decades, allow_zero=True)
    n = _checks.count("n", n)
    if n == 1:
        return [center]
    values = np.logspace(math.log10(center) - decades, math.log10(center) + decades, n)
    return [float(f"{v:.12g}") for v in values]  # 0.04, not 0.04000000000000001


def evenly(values: list, k: int) -> list:
    """``k`` entries of ``values`` spread evenly over it, in order (all of them when ``k >= len``)."""
    if k >= len(values):
        return list(values)
    return [values[int(i)] for i in np.round(np.linspace(0, len(values) - 1, k))]


def standard_grids(model: nn.Module, loss, inner_lr: float, k: int = 12, steps: int = 1,
                   first_order: bool = False, decades: float = 1.0, wormhole_factors=(1.0, 10.0, 100.0),
                   learned_factor: float = 1.0, w0s=(0.1, 0.5, 1.0), alphas=None) -> dict[str, list[MetaLearner]]:
    """The book's grids: ``k`` configurations per method (an equal budget) that all explore the
    inner rate α on **one shared grid**, ``log_grid(inner_lr, decades, k)``: configuration ``j`` of
    every method has the same α, the ``j``-th value (so every method explores α at the same
    resolution, over the same range). What a method adds varies with ``j`` as well:

    * ``"MAML"``: α alone;
    * ``"learned step"`` (:class:`~wormhole.LearnedStep`): α as the meta-learned rate's start;
    * ``"Wormhole"``: one of the ``(len(wormhole_factors) + 1) × len(w0s)`` combinations of α_w ∈
      ``wormhole_factors``·α or a learned α_w (``learn_wormhole_lr=True``, starting at
      ``learned_factor``·α) with w₀ ∈ ``w0s``, taken in a stride coprime with their number, so that
      neighbouring α values get different combinations and (for ``k`` a multiple of their number)
      every combination meets α across its whole range equally often;
    * ``"learned scale"`` (:class:`~wormhole.LearnedScale`): w₀ ∈ ``w0s`` the same way.

    Every learner gets its own copy of ``model``. ``decades >= 1`` keeps the range at least one
    decade either side of ``inner_lr`` (the protocol's minimum). ``alphas``: the α values themselves
    instead of ``log_grid(inner_lr, decades, k)`` (how :func:`widening` extends a range).
    """
    k = _checks.count("k", k)
    common = dict(loss=loss, steps=steps, first_order=first_order)

    def m():
        return copy.deepcopy(model)

    alphas = log_grid(inner_lr, decades, k) if alphas is None else [_checks.positive("alphas", float(a))
                                                                    for a in alphas]
    combos = list(itertools.product(list(wormhole_factors) + ["learned"], w0s))
    wormhole = []
    for j, a in enumerate(alphas):
        rate, w0 = combos[(j * _stride(len(combos))) % len(combos)]
        if rate == "learned":
            wormhole.append(Wormhole(m(), inner_lr=a, wormhole_lr=learned_factor * a, learn_wormhole_lr=True,
                                     wormhole_init=w0, **common))
        else:
            wormhole.append(Wormhole(m(), inner_lr=a, wormhole_lr=rate * a, wormhole_init=w0, **common))
    return {
        "MAML": [MAML(m(), inner_lr=a, **common) for a in alphas],
        "Wormhole": wormhole,
        "learned scale": [LearnedScale(m(), inner_lr=a, wormhole_init=w0s[(j * _stride(len(w0s))) % len(w0s)],
                                       **common) for j, a in enumerate(alphas)],
        "learned step": [LearnedStep(m(), inner_lr=a, **common) for a in alphas],
    }


def _stride(n: int) -> int:
    """The smallest step > 1 coprime with ``n`` (1 for ``n <= 2``): walking ``0, s, 2s, ...`` mod ``n``
    visits every index once per ``n`` steps, and neighbours differ."""
    if n <= 2:
        return 1
    return next(s for s in range(2, n + 1) if math.gcd(s, n) == 1)


def widening(model: nn.Module, loss, inner_lr: float, k: int, decades: float = 1.0, **grid_options):
    """The rule for a selection at the edge of the α range, as a function for :func:`fair_fight`:
    ``widen(direction, alphas)`` gives every method ``k`` more configurations whose α continue the
    range one decade (``decades``) past its ``"lowest"`` or ``"highest"`` value, log-spaced at the
    grid's own resolution or finer, built like :func:`standard_grids` (same ``model``, ``loss`` and
    ``grid_options``) so that the budget stays equal."""
    k = _checks.count("k", k)
    decades = _checks.positive("decades", decades)

    def widen(direction: str, alphas) -> dict[str, list[MetaLearner]]:
        edge = min(alphas) if direction == "lowest" else max(alphas)
        sign = -1 if direction == "lowest" else 1
        new = [float(f"{edge * 10 ** (sign * decades * (i + 1) / k):.12g}") for i in range(k)]
        return standard_grids(model, loss, inner_lr, k=k, alphas=sorted(new), **grid_options)

    return widen


def grid_table(grids: dict, title: str = ""):
    """The grids as a :class:`wormhole.display.Table`, one row per method: its class, how many
    configurations (the budget) and the values each setting takes. Chapters show it *before* any
    result."""
    from .display import table

    rows = []
    for name, grid in grids.items():
        records = [learner.describe() for learner in grid]
        rows.append([name, ", ".join(sorted({r["method"] for r in records})), str(len(records)),
                     *[setting_values(records, key) for key, _ in SETTINGS]])
    return table(rows, header=["method", "class", "configurations", *[sym for _, sym in SETTINGS]], title=title)


# ---------------------------------------------------------------- tuning
@dataclass
class MethodTuning:
    """One method's grid and how each configuration scored on the validation tasks.

    ``per_seed[j, s]``: configuration ``j``'s mean validation ``metric`` with tuning seed ``s``
    (the worst value, +∞ for a loss and −∞ for an accuracy, where the run diverged).
    ``score``/``ci``: mean over seeds and its 95% CI half-width. ``selected``: the index of the
    chosen configuration. ``metric``: ``"loss"`` (lower is better) or ``"accuracy"``.
    """

    name: str
    grid: list
    per_seed: np.ndarray
    diverged: np.ndarray
    selected: int
    metric: str = "loss"

    @property
    def records(self) -> list[dict]:
        """Each configuration's ``describe()``."""
        return [learner.describe() for learner in self.grid]

    @property
    def score(self) -> np.ndarray:
        worst = -np.inf if HIGHER_IS_BETTER[self.metric] else np.inf
        return np.array([mean_ci(row)[0] if np.isfinite(row).all() else worst for row in self.per_seed])

    @property
    def ci(self) -> np.ndarray:
        return np.array([mean_ci(row)[1] if np.isfinite(row).all() else np.nan for row in self.per_seed])

    @property
    def at_edge(self) -> dict[str, str]:
        """The settings whose selected value is the smallest or largest its grid tried (with more
        than two values): ``{setting: "lowest" | "highest"}``. Such a selection may lie outside the
        range, which is then too narrow."""
        records = self.records
        chosen = records[self.selected]
        out = {}
        for key, _ in SETTINGS:
            values = sorted({r[key] for r in records if isinstance(r.get(key), (int, float))
                             and not isinstance(r.get(key), bool)})
            if len(values) > 2 and key in chosen:
                if chosen[key] == values[0]:
                    out[key] = "lowest"
                elif chosen[key] == values[-1]:
                    out[key] = "highest"
        return out

    @property
    def selected_learner(self) -> MetaLearner:
        """A fresh copy of the selected configuration (untrained template)."""
        return copy.deepcopy(self.grid[self.selected])

    @property
    def selected_record(self) -> dict:
        return self.grid[self.selected].describe()

    def summary(self) -> dict:
        return {"grid": [{"learner": _settings(r), "validation_score": [_finite(m), _finite(h)], "diverged": bool(d)}
                         for r, m, h, d in zip(self.records, self.score, self.ci, self.diverged.any(1))],
                "metric": self.metric, "selected": self.selected, "selected_learner": _settings(self.selected_record),
                "at_edge": self.at_edge}


def _select(per_seed: np.ndarray, diverged: np.ndarray, higher: bool) -> int:
    """:data:`SELECTION_RULE` on per-configuration, per-seed scores: the best mean; a configuration
    that diverged on any seed scores worst; the first of ties."""
    score = np.where(diverged.any(1), -np.inf if higher else np.inf, per_seed.mean(1))
    return int(np.argmax(score) if higher else np.argmin(score))


def _finite(x) -> float | None:
    return float(x) if np.isfinite(x) else None


def _settings(record: dict) -> dict:
    """A learner's record without the model's parameter shapes (the grid tables stay short)."""
    out = {k: v for k, v in record.items() if k != "model"}
    out["model"] = {"class": record["model"]["class"], "n_parameters": record["model"]["n_parameters"]}
    return out


@dataclass
class Tuning:
    """The result of :func:`tune`: per method the grid, the validation scores and the selected
    configuration; ``budget``: what every method got (configurations, iterations, seeds, ...)."""

    methods: dict
    budget: dict
    runs: dict = field(default_factory=dict, repr=False)

    def __getitem__(self, name) -> MethodTuning:
        return self.methods[name]

    def extended(self, more: "Tuning", direction: str) -> "Tuning":
        """This tuning with ``more``'s configurations appended to every method's grid (trained with
        the same budget, seeds and validation tasks) and the selection made again over the whole
        grid; ``budget["widened"]`` records ``direction``."""
        if set(more.methods) != set(self.methods):
            raise ValueError(f"the extension must tune the same methods {sorted(self.methods)}; got {sorted(more.methods)}")
        for key in ("iterations", "seeds", "meta_batch", "meta_lr", "n_validation", "metric", "validation_seed"):
            if more.budget[key] != self.budget[key]:
                raise ValueError(f"the extension's budget differs in {key!r}: {more.budget[key]!r} vs {self.budget[key]!r}")
        higher = HIGHER_IS_BETTER[self.budget["metric"]]
        methods = {}
        for name, m in self.methods.items():
            extra = more.methods[name]
            per_seed = np.vstack([m.per_seed, extra.per_seed])
            diverged = np.vstack([m.diverged, extra.diverged])
            methods[name] = MethodTuning(name, m.grid + extra.grid, per_seed, diverged,
                                         _select(per_seed, diverged, higher), m.metric)
        budget = {**self.budget, "configurations": self.budget["configurations"] + more.budget["configurations"],
                  "widened": [*self.budget.get("widened", []), direction]}
        return Tuning(methods, budget, {})

    def selected(self) -> dict[str, MetaLearner]:
        """``{method: fresh copy of its selected configuration}``, ready for :func:`compare_selected`."""
        return {name: m.selected_learner for name, m in self.methods.items()}

    def summary(self) -> dict:
        return {"rule": SELECTION_RULE, "budget": self.budget,
                "methods": {name: m.summary() for name, m in self.methods.items()}}

    def table(self, keys=("inner_lr", "wormhole_lr", "learn_wormhole_lr", "wormhole_init")) -> str:
        """One line per configuration: method, its numbers, validation score ± CI, ``*`` = selected."""
        rows = [["method", *keys, "validation score", ""]]
        for name, m in self.methods.items():
            for j, (r, s, h) in enumerate(zip(m.records, m.score, m.ci)):
                vals = [short(r.get(k, "")) for k in keys]
                rows.append([name, *vals, fmt(s, h) if np.isfinite(s) else "diverged", "*" if j == m.selected else ""])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


    def selected_table(self, title: str = ""):
        """Per method, the selected setting and its validation loss (:func:`wormhole.report.selected_table`)."""
        return selected_table(self.summary(), title)


SELECTION_RULE = ("the best mean of the judged metric (accuracy for classification, query loss for regression) on the "
                  "validation tasks over the tuning seeds, after the learner's training number of inner steps (the step "
                  "count the claims are judged at); a diverged run scores worst; ties go to the earlier grid entry")


def _groups(grid: list[MetaLearner]) -> list[list[int]]:
    """Indices of ``grid`` split into runs of configurations that can share one sweep (in order)."""
    groups: list[list[int]] = []
    for j, learner in enumerate(grid):
        for g in groups:
            try:
                check_sweep([grid[g[0]], learner])
            except ValueError:
                continue
            g.append(j)
            break
        else:
            groups.append([j])
    return groups


def validation_scores(runs, tasks: TaskFamily, n_tasks: int, seed: int, metric: str = "loss",
                      device="auto") -> np.ndarray:
    """Each run's mean ``metric`` (``"loss"`` or ``"accuracy"``) on ``n_tasks`` tasks of the
    validation stream of ``seed``, after its learner's training number of inner steps; the worst
    value (+∞ for a loss, −∞ for an accuracy) for a run that diverged."""
    metric = _checks.choice("metric", metric, tuple(HIGHER_IS_BETTER))
    worst = -np.inf if HIGHER_IS_BETTER[metric] else np.inf
    out = []
    for run in runs:
        if run.history.diverged_at is not None:
            out.append(worst)
            continue
        ev = evaluate(run.learner, tasks, n_tasks, steps=(run.learner.steps,), seed=seed, device=device,
                      stream="validation")
        value = float(getattr(ev, metric)[:, 0].mean())
        out.append(value if np.isfinite(value) else worst)
    return np.array(out)


def tune(grids: dict, train_tasks: TaskFamily, validation_tasks: TaskFamily | None, iterations: int, seeds, *,
         meta_batch: int = 25, meta_lr: float = 1e-3, n_validation: int = 500, validation_seed: int | None = None,
         log_every: int | None = None, progress: bool = True, device="auto", seed_chunk: int | None = None,
         keep_runs: bool = False, metric: str | None = None) -> Tuning:
    """Train every configuration of every method's grid with the same budget, score each on the
    validation stream and select one per method (see the module's rule, :data:`SELECTION_RULE`).

    Args:
        grids: ``{method: [learner, ...]}``, every list of the same length K (e.g.
            :func:`standard_grids`).
        train_tasks: the training family (each seed's training stream, as in ``meta_train``).
        validation_tasks: the family the validation tasks come from (stream ``"validation"`` of
            ``validation_seed``: never the training or the evaluation stream); ``None``:
            ``train_tasks.validation()`` (the validation split of an image family).
        validation_seed: ``None``: the first tuning seed, so the validation tasks move with the seeds.
        metric: ``"loss"`` or ``"accuracy"``; ``None``: the judged metric of the training family's
            loss (:func:`wormhole.evaluation.judged_metric`).
        iterations, seeds, meta_batch, meta_lr: the budget, the same for every configuration.
        n_validation: validation tasks per run.
        log_every: how often the runs log their diagnostics (gradient conflict, ...); ``None``: once,
            at the start, since selection reads only the validation score and per-task
            meta-gradients for every configuration would cost more than the training they describe.
        keep_runs: keep every trained run in ``Tuning.runs[method]`` (``[config][seed]``).

    Raises:
        ValueError: the grids are empty or of unequal sizes (an unequal budget).
    """
    seeds = [int(s) for s in seeds]
    return tune_sets(grids, train_tasks, validation_tasks, iterations, [seeds], meta_batch=meta_batch,
                     meta_lr=meta_lr, n_validation=n_validation, validation_seed=validation_seed,
                     log_every=log_every, progress=progress, device=device, seed_chunk=seed_chunk,
                     keep_runs=keep_runs, metric=metric)[0]


def tune_sets(grids: dict, train_tasks: TaskFamily, validation_tasks: TaskFamily | None, iterations: int,
              seed_sets_, *, meta_batch: int = 25, meta_lr: float = 1e-3, n_validation: int = 500,
              validation_seed: int | None = None, log_every: int | None = None, progress: bool = True,
              device="auto", seed_chunk: int | None = None, keep_runs: bool = False,
              metric: str | None = None) -> list[Tuning]:
    """:func:`tune` repeated on several disjoint sets of tuning seeds (``seed_sets_``, e.g. two pairs),
    one independent selection per set: every configuration trains once for all the seeds together
    (one vectorised sweep, so a second selection costs less than a second search), and each set
    selects on its own seeds' runs and its own validation tasks (those of its first seed, unless
    ``validation_seed`` is given). Returns one :class:`Tuning` per set, in order; the arguments
    are :func:`tune`'s.

    Raises:
        ValueError: the grids are empty or of unequal sizes (an unequal budget), a set has fewer
            than 2 seeds, or the sets share a seed.
    """
    if not isinstance(grids, dict) or not grids:
        raise ValueError("grids must be a non-empty dict {method: [learner, ...]}")
    sizes = {name: len(list(g)) for name, g in grids.items()}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise ValueError(f"every method's grid must hold the same number (> 0) of configurations (an equal "
                         f"budget); got {sizes}")
    groups = [[int(s) for s in group] for group in seed_sets_]
    if not groups:
        raise ValueError("seed_sets_ must hold at least one set of tuning seeds")
    for group in groups:
        if len(group) < 2:
            raise ValueError(f"seeds must name at least 2 tuning seeds (the score has a CI over seeds); got {group!r}")
    seeds = [s for group in groups for s in group]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the sets of tuning seeds must be disjoint; got {groups}")
    _checks.count("n_validation", n_validation)
    validation_tasks = train_tasks.validation() if validation_tasks is None else validation_tasks
    metric = judged_metric(train_tasks.loss) if metric is None else _checks.choice("metric", metric,
                                                                                   tuple(HIGHER_IS_BETTER))
    higher = HIGHER_IS_BETTER[metric]
    methods: list[dict] = [{} for _ in groups]
    kept: list[dict] = [{} for _ in groups]
    for name, grid in grids.items():
        grid = list(grid)
        runs: list = [None] * len(grid)
        for group in _groups(grid):
            with phase("tuning: training"):
                swept = meta_train_sweep([grid[j] for j in group], train_tasks, seeds, iterations,
                                         meta_batch=meta_batch, meta_lr=meta_lr, progress=progress,
                                         log_every=log_every or max(iterations, 1), device=device,
                                         seed_chunk=seed_chunk, on_nonfinite="continue")
            for j, r in zip(group, swept):
                runs[j] = r
        at = 0
        for g, group in enumerate(groups):
            own = [config_runs[at:at + len(group)] for config_runs in runs]
            at += len(group)
            vseed = group[0] if validation_seed is None else int(validation_seed)
            with phase("tuning: validation"):
                per_seed = np.array([validation_scores(r, validation_tasks, n_validation, vseed, metric, device)
                                     for r in own])
            diverged = ~np.isfinite(per_seed)
            if diverged.any(1).all():
                raise ValueError(f"every configuration of {name!r} diverged; widen or move its grid")
            methods[g][name] = MethodTuning(name, grid, per_seed, diverged, _select(per_seed, diverged, higher),
                                            metric)
            if keep_runs:
                kept[g][name] = own
    out = []
    for g, group in enumerate(groups):
        budget = {"configurations": next(iter(sizes.values())), "iterations": iterations, "seeds": group,
                  "meta_batch": meta_batch, "meta_lr": meta_lr, "n_validation": n_validation, "metric": metric,
                  "validation_seed": group[0] if validation_seed is None else int(validation_seed),
                  "train_tasks": train_tasks.describe(), "validation_tasks": validation_tasks.describe()}
        out.append(Tuning(methods[g], budget, kept[g]))
    return out


# ---------------------------------------------------------------- retraining the selected settings
def carry_over(learner: MetaLearner, model: nn.Module) -> MetaLearner:
    """The same method with the same settings (every constructor argument but the model) around a
    copy of ``model``: how settings selected on a cheap model (the MNIST MLP) reach an expensive
    one (the ConvNet)."""
    fixed = getattr(type(learner), "fixed_arguments", ())
    args = {k: v for k, v in learner._arguments.items() if k != "model" and k not in fixed}
    return type(learner)(copy.deepcopy(model), **args)


def compare_selected(name: str, tuning: Tuning, train_tasks: TaskFamily, eval_tasks: TaskFamily, seeds, *,
                     iterations: int | None = None, defaults: dict | None = None, model: nn.Module | None = None,
                     **kwargs) -> Comparison:
    """Train each method's selected configuration with fresh ``seeds`` (disjoint from the tuning
    seeds) and evaluate on the evaluation stream: :func:`wormhole.experiments.compare` with the
    methods named as in the tuning, plus ``defaults`` (``{label: learner}``, e.g. the untuned
    package defaults) trained alike, so all are paired. ``iterations`` defaults to the tuning
    budget's (pass :func:`converged_budget`'s). ``kwargs`` go to ``compare`` (``meta_batch``,
    ``meta_lr`` default to the tuning budget's). With ``model``, the selected settings are
    carried over to it (:func:`carry_over`; recorded under ``config["carried_over_to"]``). The
    tuning record is kept under ``comparison.config["tuning"]``."""
    seeds = [int(s) for s in seeds]
    reused = sorted(set(seeds) & set(tuning.budget["seeds"]))
    if reused:
        raise ValueError(f"seeds must be fresh (disjoint from the tuning seeds {tuning.budget['seeds']}); "
                         f"{reused} were used for tuning")
    learners = tuning.selected()
    if model is not None:
        learners = {label: carry_over(learner, model) for label, learner in learners.items()}
    for label, learner in (defaults or {}).items():
        if label in learners:
            raise ValueError(f"defaults label {label!r} is already a tuned method's name")
        learners[label] = learner
    kwargs.setdefault("meta_batch", tuning.budget["meta_batch"])
    kwargs.setdefault("meta_lr", tuning.budget["meta_lr"])
    iterations = tuning.budget["iterations"] if iterations is None else iterations
    comparison = compare(name, learners, train_tasks, eval_tasks, seeds=seeds, iterations=iterations, **kwargs)
    comparison.config["tuning"] = tuning.summary()
    comparison.config["tuned_methods"] = list(tuning.methods)
    if model is not None:
        comparison.config["carried_over_to"] = type(model).__name__
    return comparison


def compare_sets(name: str, tunings: list[Tuning], train_tasks: TaskFamily, eval_tasks: TaskFamily, seeds, *,
                 iterations: int | None = None, resume: list | None = None, **kwargs) -> Comparison:
    """:func:`compare_selected` once per replication set: with one tuning, its selection trains on
    all ``seeds``; with two (:func:`tune_sets`), the first set of :func:`wormhole.seeding.seed_sets`
    trains the first tuning's selection and the second set the second's, and the two are merged
    (:func:`wormhole.experiments.merge`) into one comparison whose halves each carry their own
    selection. ``resume``: one :func:`~wormhole.experiments.compare` ``resume`` dict per tuning (or
    ``None``); ``kwargs`` go to :func:`compare_selected`. Both tunings' records are kept under
    ``config["tuning_sets"]`` (the first also under ``config["tuning"]``)."""
    from .experiments import merge

    if not tunings or len(tunings) > 2:
        raise ValueError(f"tunings must hold one tuning (shared by both sets) or two (one per set); got {len(tunings)}")
    seeds = [int(s) for s in seeds]
    used = sorted(set(seeds) & {s for t in tunings for s in t.budget["seeds"]})
    if used:
        raise ValueError(f"seeds must be fresh (disjoint from every tuning seed); {used} were used for tuning")
    if len(tunings) == 1:
        parts = [(tunings[0], seeds)]
    else:
        parts = list(zip(tunings, seed_sets(seeds)))
    resume = [None] * len(parts) if resume is None else list(resume)
    if len(resume) != len(parts):
        raise ValueError(f"resume must hold one entry per tuning ({len(parts)}); got {len(resume)}")
    done = [compare_selected(name, tuning, train_tasks, eval_tasks, part, iterations=iterations, resume=own, **kwargs)
            for (tuning, part), own in zip(parts, resume)]
    comparison = done[0] if len(done) == 1 else merge(name, done)
    comparison.config["tuning_sets"] = [t.summary() for t in tunings]
    comparison.config["selection"] = "shared by both sets" if len(tunings) == 1 else "repeated for each set"
    return comparison


# ---------------------------------------------------------------- converged budgets
@dataclass
class Convergence:
    """What :func:`converged_budget` tried: ``checks`` holds, per budget, the iterations, the mean
    per-seed change of the validation score over the last :data:`FLAT_TAIL` of training and the
    95% CI half-width of that change (paired by seed); ``iterations`` is the budget it settled on."""

    iterations: int
    converged: bool
    checks: list

    def __str__(self) -> str:
        lines = [f"{c['iterations']:>7} iterations: change over the last {FLAT_TAIL:.0%} {c['change']:+.4f}, "
                 f"CI ±{c['ci']:.4f} → {'flat' if c['flat'] else 'still moving'}" for c in self.checks]
        verdict = "converged" if self.converged else "NOT converged (the cap was reached)"
        return "\n".join(lines + [f"{verdict} at {self.iterations} iterations"])


@dataclass
class Budget:
    """The budget every selected method trains for (:func:`fair_fight`): the largest that any of
    them needed to converge (:func:`converged_budget`, one per method), the cap where one never
    did. ``converged`` is False when some method was still moving at the cap."""

    iterations: int
    methods: dict

    @property
    def converged(self) -> bool:
        return all(c.converged for c in self.methods.values())

    @property
    def not_converged(self) -> list[str]:
        """The methods still moving at the cap."""
        return [name for name, c in self.methods.items() if not c.converged]

    def record(self) -> dict:
        return {"iterations": self.iterations, "converged": self.converged,
                "methods": {name: {"iterations": c.iterations, "converged": c.converged, "checks": c.checks}
                            for name, c in self.methods.items()}}

    def __str__(self) -> str:
        lines = []
        for name, c in self.methods.items():
            lines += [f"{name}:"] + ["  " + line for line in str(c).splitlines()]
        tail = ("every method converged" if self.converged else
                f"NOT converged at the cap: {', '.join(self.not_converged)}")
        return "\n".join(lines + [f"all methods train for {self.iterations} iterations ({tail})"])


def budgets(start: int, cap: int, growth: float = 2.0) -> list[int]:
    """``start, start·growth, ...`` (rounded) up to the largest not above ``cap``."""
    start, cap = _checks.count("start", start), _checks.count("cap", cap)
    if growth < 1.25:
        raise ValueError(f"growth must be >= 1.25 (so that 80% of a budget lies past the previous one); got {growth!r}")
    if cap < start:
        raise ValueError(f"cap must be >= start ({start}); got {cap}")
    out = [start]
    while round(out[-1] * growth) <= cap:
        out.append(round(out[-1] * growth))
    return out


def tail_change(before, after, level: float = 0.95) -> tuple[float, float, bool]:
    """The convergence rule on per-seed validation scores ``before`` (at ``(1 − FLAT_TAIL)·N``) and
    ``after`` (at ``N``): ``(mean change, CI half-width of the change, flat)``. Paired by seed: the
    curve is flat when the mean change lies within its own CI (not significantly different from 0
    at ``level``); a non-finite score (a diverged run) is never flat."""
    change = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    mean = float(np.mean(change))
    ci = float(mean_ci(change, level=level)[1])
    return mean, ci, bool(np.isfinite(mean) and np.isfinite(ci) and abs(mean) <= ci)


def converged_budget(learner: MetaLearner, train_tasks: TaskFamily, validation_tasks: TaskFamily, seeds, *,
                     start: int = 500, cap: int = 16000, growth: float = 2.0, meta_batch: int = 25,
                     meta_lr: float = 1e-3, n_validation: int = 500, validation_seed: int = 0,
                     log_every: int = 50, progress: bool = True, device="auto", workdir=None,
                     metric: str = "loss", keep: str | None = None) -> Convergence:
    """Grow the training budget of ``learner`` until its validation curve is flat.

    For each budget N of :func:`budgets` (``start``, ``start·growth``, ... ≤ ``cap``), the learner is
    trained (one continuous run per seed, resumed from a checkpoint between budgets, so nothing is
    trained twice) and scored on the validation stream (``metric``, :func:`validation_scores`) at
    ``(1 − FLAT_TAIL)·N`` and ``N``. The curve is flat when the change over that tail, paired by
    seed (``L_N,s − L_(1−FLAT_TAIL)N,s``), is not significantly different from 0: its mean lies
    within its own 95% CI half-width. Returns the first flat budget, or the last one tried with
    ``converged=False``. With ``keep`` (a file path), the runs' checkpoint at the returned budget
    is left there, so that training can go on from it (:func:`wormhole.experiments.compare`'s
    ``resume``) instead of starting again.
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2:
        raise ValueError(f"seeds must name at least 2 seeds (the rule needs a CI); got {seeds!r}")
    plan = budgets(start, cap, growth)
    checks = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = keep if keep is not None else os.path.join(tmp, "converge.pt")

        def score_at(n):
            with phase("convergence: training"):
                runs = meta_train_seeds(learner, train_tasks, seeds, n, meta_batch=meta_batch, meta_lr=meta_lr,
                                        progress=progress, checkpoint=path, log_every=log_every, device=device,
                                        on_nonfinite="continue")
            # a diverged run scores worst (validation_scores), so its curve never looks flat
            with phase("convergence: validation"):
                return validation_scores(runs, validation_tasks, n_validation, validation_seed, metric, device)

        for n in plan:
            before, after = score_at(round((1 - FLAT_TAIL) * n)), score_at(n)
            mean, ci, flat = tail_change(before, after)
            checks.append({"iterations": n, "change": mean, "ci": ci, "flat": flat,
                           "validation_score": float(np.mean(after))})
            if flat:
                return Convergence(n, True, checks)
    return Convergence(plan[-1], False, checks)


# ---------------------------------------------------------------- the whole protocol in one call
@dataclass
class FairFight:
    """One problem's fair fight (:func:`fair_fight`): the tuning (``tunings``: one per replication
    set when the selection is repeated, else one shared; ``tuning`` is the first), the budget every
    selected method trained for (with each method's convergence, per set) and the comparison of
    the selected settings (with the package defaults) on fresh seeds."""

    tuning: Tuning
    convergence: Budget
    comparison: Comparison
    tunings: list = field(default_factory=list)

    def summary(self) -> str:
        """Plain text: the iterations used and why."""
        state = ("every method converged" if self.convergence.converged else
                 f"NOT converged at the cap: {', '.join(self.convergence.not_converged)}")
        b = self.tuning.budget
        selection = ("one selection shared by both seed sets" if len(self.tunings) < 2 else
                     f"selected separately for each seed set, on tuning seeds "
                     f"{' and '.join(str(t.budget['seeds']) for t in self.tunings)}")
        return (f"{self.comparison.name}: tuned with {b['configurations']} configurations × {b['iterations']} "
                f"iterations × {len(b['seeds'])} seeds per method ({selection}); selected settings retrained for "
                f"{self.convergence.iterations} iterations ({state}) on {len(self.comparison.config['seeds'])} fresh seeds")


def fair_fight(name: str, grids: dict, train_tasks: TaskFamily, eval_tasks: TaskFamily, tuning_seeds, seeds, *,
               tune_iterations: int, converge_start: int, converge_cap: int, defaults: dict | None = None,
               validation_tasks: TaskFamily | None = None, meta_batch: int = 25, meta_lr: float = 1e-3,
               n_validation: int = 500, n_eval: int = 500, eval_seed: int = 1234, log_every: int = 50,
               progress: bool = True, device="auto", seed_chunk: int | None = None,
               metric: str | None = None, widen=None, max_widen: int = 2) -> FairFight:
    """The book's protocol for one problem, in order:

    1. :func:`tune` every method's grid with the same budget (``tune_iterations`` ×
       the tuning seeds) and select on the validation tasks. ``tuning_seeds`` is either a list of
       seeds (one selection, shared by both replication sets) or a pair of disjoint lists (the
       selection is **repeated**, :func:`tune_sets`: the first list selects for the first set of
       fresh seeds, the second for the second, so that the two sets also replicate the selection);
    2. :func:`converged_budget` for **every** selected method (from ``converge_start`` up to
       ``converge_cap`` iterations, never fewer than ``tune_iterations``), on the validation tasks
       and the fresh seeds of the replication set the selection is for
       (:func:`wormhole.seeding.seed_sets`: with a shared selection, the first set; two tuning
       seeds would give so wide a CI that any curve looks flat); every method of every set then
       trains for the **largest** budget any of them needed (the cap where one never converged,
       which the record says);
    3. :func:`compare_sets` on all the fresh ``seeds`` at that budget, the ``defaults``
       (``{label: learner}``) trained beside them. The runs of a convergence check go on from where
       it left them (the same runs, not trained twice) unless ``seed_chunk`` splits the seeds.

    With ``widen`` (e.g. :func:`widening`), a selected α at the edge of its range in any method of
    any set extends **every** method's grid past that edge (``widen(direction, alphas)`` gives the
    new configurations, the same number for every method, so the budget stays equal) and the
    selection is made again over the wider grid, at most ``max_widen`` times; the tuning's budget
    records each ``"widened"`` direction, and a selection still at the edge stays flagged.

    ``validation_tasks`` defaults to ``train_tasks.validation()`` (the same family, whose *stream*
    differs; an image family's validation split), seeded by the first seed of each tuning set; the
    selection and convergence score ``metric`` (default: :func:`wormhole.evaluation.judged_metric`
    of the family's loss). The budget record is kept under ``comparison.config["convergence"]``."""
    validation_tasks = train_tasks.validation() if validation_tasks is None else validation_tasks
    common = dict(meta_batch=meta_batch, meta_lr=meta_lr, n_validation=n_validation, log_every=log_every,
                  progress=progress, device=device)
    tuning_seeds = list(tuning_seeds)
    repeated = bool(tuning_seeds) and all(isinstance(t, (list, tuple, range)) for t in tuning_seeds)
    groups = [list(t) for t in tuning_seeds] if repeated else [tuning_seeds]
    if repeated and len(groups) != 2:
        raise ValueError(f"tuning_seeds must be a list of seeds or a pair of lists (one per seed set); got "
                         f"{len(groups)} lists")
    tuning_options = dict(seed_chunk=seed_chunk, metric=metric, **{k: v for k, v in common.items() if k != "log_every"})
    tunings = tune_sets(grids, train_tasks, validation_tasks, tune_iterations, groups, **tuning_options)
    for _ in range(_checks.count("max_widen", max_widen, minimum=0) if widen is not None else 0):
        edges = sorted({t[name].at_edge.get("inner_lr") for t in tunings for name in t.methods} - {None})
        if not edges:
            break
        for direction in edges:
            alphas = sorted({learner.inner_lr for m in tunings[0].methods.values() for learner in m.grid})
            more = tune_sets(widen(direction, alphas), train_tasks, validation_tasks, tune_iterations, groups,
                             **tuning_options)
            tunings = [t.extended(e, direction) for t, e in zip(tunings, more)]
    sets = seed_sets(seeds)[:len(tunings)]
    start = max(converge_start, tune_iterations)
    cap = max(converge_cap, converge_start, tune_iterations)
    with tempfile.TemporaryDirectory() as tmp:
        methods, resume = {}, []
        for i, (tuning, part) in enumerate(zip(tunings, sets)):
            kept = {label: os.path.join(tmp, f"{i}-{j}.pt") for j, label in enumerate(tuning.methods)}
            own = dict(common, validation_seed=tuning.budget["validation_seed"], metric=tuning.budget["metric"])
            for label, learner in tuning.selected().items():
                key = label if len(tunings) == 1 else f"{label} (set {i + 1})"
                methods[key] = converged_budget(learner, train_tasks, validation_tasks, part, start=start, cap=cap,
                                                keep=kept[label], **own)
            resume.append({label: (part, path) for label, path in kept.items()} if seed_chunk is None else None)
        budget = Budget(max(c.iterations for c in methods.values()), methods)
        comparison = compare_sets(name, tunings, train_tasks, eval_tasks, seeds, iterations=budget.iterations,
                                  defaults=defaults, n_eval=n_eval, eval_seed=eval_seed, log_every=log_every,
                                  progress=progress, device=device, seed_chunk=seed_chunk, resume=resume)
    comparison.config["convergence"] = budget.record()
    return FairFight(tunings[0], budget, comparison, tunings)


# ---------------------------------------------------------------- where the wormhole helps
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


def landscape(comparison: Comparison, template, wormhole_lrs, w0s, train_tasks: TaskFamily,
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
    usage_batch = eval_tasks.sample(min(cfg["n_eval"], 256),
                                    torch.Generator().manual_seed(stream_seed(cfg["eval_seed"], "eval") + 1))
    results, flips = [], []
    higher = metric == "accuracy"
    for c, config_runs in enumerate(runs):
        values, flip = [], []
        for run in config_runs:
            if run.history.diverged_at is not None:
                values.append(np.nan)
                flip.append(np.nan)  # keeps flip[s] aligned with seed s
                continue
            ev = evaluate(run.learner, eval_tasks, cfg["n_eval"], (steps,), cfg["eval_seed"], device=device)
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


__all__ = ["METHODS", "SELECTION_RULE", "Budget", "Convergence", "FairFight", "Landscape", "MethodTuning", "Tuning",
           "budgets", "carry_over", "tail_change", "compare_selected", "converged_budget", "evenly", "fair_fight", "grid_table", "landscape",
           "log_grid", "standard_grids", "tune", "validation_scores"]
