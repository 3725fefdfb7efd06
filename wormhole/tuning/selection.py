"""Selection on a validation stream: every configuration of every grid trained with the same budget
and scored on the judged metric; one or several independent selections (one per set of tuning seeds)."""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from .. import _checks
from ..evaluation import HIGHER_IS_BETTER, evaluate, judged_metric
from ..learners import MetaLearner
from ..report import SETTINGS, selected_table, short
from ..stats import fmt, mean_ci
from ..timing import phase
from ..tasks.base import TaskFamily
from ..training import check_sweep, meta_train_sweep, narrow_sweep
from .plan import SearchPlan


@dataclass
class MethodTuning:
    """One method's grid and how each configuration scored on the validation tasks.

    ``per_seed[j, s]``: configuration ``j``'s mean validation ``metric`` with tuning seed ``s``
    (the worst value, +∞ for a loss and −∞ for an accuracy, where the run diverged).
    ``score``/``ci``: mean over seeds and its 95% CI half-width. ``selected``: the index of the
    chosen configuration. ``metric``: ``"loss"`` (lower is better) or ``"accuracy"``.
    ``reached[j]``: the last rung (0-based) configuration ``j`` trained in under successive
    halving (:class:`~wormhole.tuning.SearchPlan`); ``per_seed[j]`` is its score there. Only
    configurations that reached the last rung can be selected. ``None``: one rung, all reached it.
    """

    name: str
    grid: list
    per_seed: np.ndarray
    diverged: np.ndarray
    selected: int
    metric: str = "loss"
    reached: np.ndarray | None = None

    @property
    def rung(self) -> np.ndarray:
        """The last rung (0-based) each configuration reached."""
        return np.zeros(len(self.grid), dtype=int) if self.reached is None else np.asarray(self.reached)

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
        return {"grid": [{"learner": _settings(r), "validation_score": [_finite(m), _finite(h)], "diverged": bool(d),
                          "rung": int(g) + 1}
                         for r, m, h, d, g in zip(self.records, self.score, self.ci, self.diverged.any(1), self.rung)],
                "metric": self.metric, "selected": self.selected, "selected_learner": _settings(self.selected_record),
                "at_edge": self.at_edge}


def _ranking(per_seed: np.ndarray, diverged: np.ndarray, higher: bool, among=None) -> list[int]:
    """:data:`SELECTION_RULE` as an order: the indices ``among`` (default: all) from best to worst
    mean score; a configuration that diverged on any seed scores worst; ties keep grid order."""
    among = range(len(per_seed)) if among is None else among
    worst = -np.inf if higher else np.inf
    score = {j: worst if diverged[j].any() else float(per_seed[j].mean()) for j in among}
    return sorted(score, key=lambda j: (-score[j] if higher else score[j], j))


def _select(per_seed: np.ndarray, diverged: np.ndarray, higher: bool, reached=None) -> int:
    """:data:`SELECTION_RULE` on per-configuration, per-seed scores: the best of the configurations
    that reached the last rung (``reached``: each one's last rung; ``None``: all)."""
    among = None if reached is None else np.flatnonzero(np.asarray(reached) == np.max(reached))
    return _ranking(per_seed, diverged, higher, among)[0]


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

    def extended(self, more: "Tuning", reason: str) -> "Tuning":
        """This tuning with ``more``'s configurations appended to every method's grid (searched with
        the same plan, seeds and validation tasks: another bracket of the same halving) and the
        selection made again over every configuration that reached the last rung;
        ``budget["widened"]`` records ``reason`` (e.g. ``"w₀ past its highest value"``)."""
        if set(more.methods) != set(self.methods):
            raise ValueError(f"the extension must tune the same methods {sorted(self.methods)}; got {sorted(more.methods)}")
        for key in ("rungs", "keep", "seeds", "meta_batch", "meta_lr", "n_validation", "metric", "validation_seed"):
            if more.budget.get(key) != self.budget.get(key):
                raise ValueError(f"the extension's budget differs in {key!r}: {more.budget.get(key)!r} vs "
                                 f"{self.budget.get(key)!r}")
        higher = HIGHER_IS_BETTER[self.budget["metric"]]
        methods = {}
        for name, m in self.methods.items():
            extra = more.methods[name]
            per_seed = np.vstack([m.per_seed, extra.per_seed])
            diverged = np.vstack([m.diverged, extra.diverged])
            reached = np.concatenate([m.rung, extra.rung])
            methods[name] = MethodTuning(name, m.grid + extra.grid, per_seed, diverged,
                                         _select(per_seed, diverged, higher, reached), m.metric, reached)
        budget = {**self.budget, "configurations": self.budget["configurations"] + more.budget["configurations"],
                  "brackets": [*self.budget.get("brackets", [self.budget["configurations"]]),
                               more.budget["configurations"]],
                  "widened": [*self.budget.get("widened", []), reason]}
        return Tuning(methods, budget, {})

    def selected(self) -> dict[str, MetaLearner]:
        """``{method: fresh copy of its selected configuration}``, ready for :func:`compare_selected`."""
        return {name: m.selected_learner for name, m in self.methods.items()}

    def summary(self) -> dict:
        return {"rule": SELECTION_RULE, "budget": self.budget,
                "methods": {name: m.summary() for name, m in self.methods.items()}}

    def table(self, keys=("inner_lr", "wormhole_lr", "learn_wormhole_lr", "wormhole_init")) -> str:
        """One line per configuration: method, its numbers, the last rung it reached, its
        validation score ± CI there, ``*`` = selected."""
        rows = [["method", *keys, "rung", "validation score", ""]]
        for name, m in self.methods.items():
            for j, (r, s, h, g) in enumerate(zip(m.records, m.score, m.ci, m.rung)):
                vals = [short(r.get(k, "")) for k in keys]
                rows.append([name, *vals, str(g + 1), fmt(s, h) if np.isfinite(s) else "diverged",
                             "*" if j == m.selected else ""])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


    def selected_table(self, title: str = ""):
        """Per method, the selected setting and its validation loss (:func:`wormhole.report.selected_table`)."""
        return selected_table(self.summary(), title)


SELECTION_RULE = ("successive halving: every configuration trains the first rung, the best fraction of each rung trains "
                  "on to the next, and the selection is the best of the last rung's survivors, which have trained as "
                  "long as the selected settings will; at every rung the score is the mean of the judged metric "
                  "(accuracy for classification, query loss for regression) on the validation tasks over the tuning "
                  "seeds, after the learner's training number of inner steps (the step count the claims are judged "
                  "at); a diverged run scores worst; ties go to the earlier grid entry")


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


def validation_scores(runs, tasks: TaskFamily, n_tasks: int, seed: int, *, metric: str = "loss",
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


def _plan(plan, options: dict) -> SearchPlan:
    """``plan`` itself, or (an iteration count) the plain grid search with ``options``."""
    fields = {"meta_batch", "meta_lr", "n_validation", "metric", "log_every", "progress", "device", "max_widen"}
    unknown = set(options) - fields
    if unknown:
        raise TypeError(f"unexpected arguments {sorted(unknown)}")
    if isinstance(plan, SearchPlan):
        if options:
            raise ValueError(f"{sorted(options)} belong in the SearchPlan when one is given")
        return plan
    return SearchPlan.grid(_checks.count("iterations", plan), **options)


def tune(grids: dict, train_tasks: TaskFamily, validation_tasks: TaskFamily | None, plan, seeds, *,
         validation_seed: int | None = None, seed_chunk: int | None = None, keep_runs: bool = False,
         **options) -> Tuning:
    """Search every method's grid with the same plan, score on the validation stream and select
    one configuration per method (the rule: :data:`SELECTION_RULE`).

    Args:
        grids: ``{method: [learner, ...]}``, every list of the same length K (e.g.
            :func:`standard_grids`).
        train_tasks: the training family (each seed's training stream, as in ``meta_train``).
        validation_tasks: the family the validation tasks come from (stream ``"validation"`` of
            ``validation_seed``: never the training or the evaluation stream); ``None``:
            ``train_tasks.validation()`` (the validation split of an image family).
        plan: a :class:`~wormhole.tuning.SearchPlan` (rungs, survivors, meta-batch, meta-rate,
            validation size, metric, ...), or an iteration count: the plain grid search of that
            length, its other settings from ``options`` (``meta_batch``, ``meta_lr``,
            ``n_validation``, ``metric``, ``log_every``, ``progress``, ``device``).
        seeds: the tuning seeds (at least 2), the same for every configuration.
        validation_seed: ``None``: the first tuning seed, so the validation tasks move with the seeds.
        seed_chunk: for a one-rung plan, vectorise at most this many seeds at a time.
        keep_runs: keep every configuration's runs at the last rung it reached in
            ``Tuning.runs[method]`` (``[config][seed]``).

    Raises:
        ValueError: the grids are empty or of unequal sizes (an unequal budget), fewer than 2 seeds.
    """
    seeds = [int(s) for s in seeds]
    return tune_sets(grids, train_tasks, validation_tasks, plan, [seeds], validation_seed=validation_seed,
                     seed_chunk=seed_chunk, keep_runs=keep_runs, **options)[0]


def tune_sets(grids: dict, train_tasks: TaskFamily, validation_tasks: TaskFamily | None, plan, seed_sets_, *,
              validation_seed: int | None = None, seed_chunk: int | None = None, keep_runs: bool = False,
              **options) -> list[Tuning]:
    """:func:`tune` repeated on several disjoint sets of tuning seeds (``seed_sets_``, e.g. two pairs),
    one independent selection per set. The first rung trains every configuration once for all the
    seeds together (one vectorised sweep per group of configurations that can share one), each set
    ranks it on its own seeds and validation tasks (those of its first seed, unless
    ``validation_seed`` is given), and each set's survivors go on from where the first rung left
    them (:func:`wormhole.training.narrow_sweep`), never restarted. Returns one :class:`Tuning` per
    set, in order; the arguments are :func:`tune`'s.

    Raises:
        ValueError: the grids are empty or of unequal sizes (an unequal budget), a set has fewer
            than 2 seeds, the sets share a seed, or ``seed_chunk`` is given for a plan of several
            rungs (continuing survivors needs one checkpoint per sweep).
    """
    plan = _plan(plan, options)
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
    if seed_chunk is not None and len(plan.rungs) > 1:
        raise ValueError("seed_chunk needs a one-rung plan (halving continues each sweep from its checkpoint)")
    validation_tasks = train_tasks.validation() if validation_tasks is None else validation_tasks
    metric = judged_metric(train_tasks.loss) if plan.metric is None else plan.metric
    higher = HIGHER_IS_BETTER[metric]
    k = next(iter(sizes.values()))
    vseeds = [group[0] if validation_seed is None else int(validation_seed) for group in groups]
    methods: list[dict] = [{} for _ in groups]
    kept: list[dict] = [{} for _ in groups]
    with tempfile.TemporaryDirectory() as tmp:
        for name, grid in grids.items():
            grid = list(grid)
            halving = _Halving(name, grid, plan, groups, vseeds, metric, higher, tmp)
            halving.run(train_tasks, validation_tasks, seed_chunk)
            for g in range(len(groups)):
                reached = halving.reached[g]
                per_seed = halving.scores[g]
                diverged = ~np.isfinite(per_seed)
                methods[g][name] = MethodTuning(name, grid, per_seed, diverged,
                                                _select(per_seed, diverged, higher, reached), metric, reached)
                if keep_runs:
                    kept[g][name] = halving.runs[g]
    out = []
    for g, group in enumerate(groups):
        budget = {"configurations": k, "iterations": plan.iterations, "rungs": list(plan.rungs), "keep": plan.keep,
                  "survivors": plan.survivors(k), "seeds": group, "meta_batch": plan.meta_batch,
                  "meta_lr": plan.meta_lr, "n_validation": plan.n_validation, "metric": metric,
                  "validation_seed": vseeds[g], "train_tasks": train_tasks.describe(),
                  "validation_tasks": validation_tasks.describe()}
        out.append(Tuning(methods[g], budget, kept[g]))
    return out


class _Halving:
    """Successive halving of one method's grid for every set of tuning seeds: ``scores[g]``
    (configurations × the set's seeds, at the last rung each reached), ``reached[g]`` and, per
    configuration, its runs there (``runs[g]``)."""

    def __init__(self, name, grid, plan: SearchPlan, groups, vseeds, metric, higher, tmp):
        self.name, self.grid, self.plan, self.groups, self.vseeds = name, grid, plan, groups, vseeds
        self.metric, self.higher = metric, higher
        self.tmp = tempfile.mkdtemp(dir=tmp)   # this method's own folder: no file of another is resumed
        self.scores = [np.full((len(grid), len(group)), np.nan) for group in groups]
        self.reached = [np.zeros(len(grid), dtype=int) for _ in groups]
        self.runs = [[None] * len(grid) for _ in groups]

    def _train(self, configs, seeds, iterations, checkpoint, rung, tasks, seed_chunk):
        with phase(f"tuning: rung {rung + 1}"):
            return meta_train_sweep([self.grid[j] for j in configs], tasks, seeds, iterations,
                                    meta_batch=self.plan.meta_batch, meta_lr=self.plan.meta_lr,
                                    progress=self.plan.progress, log_every=self.plan.log_every or self.plan.iterations,
                                    device=self.plan.device, seed_chunk=seed_chunk, checkpoint=checkpoint,
                                    on_nonfinite="continue")

    def _score(self, g, rung, configs, runs, validation_tasks):
        with phase("tuning: validation"):
            for j, own in zip(configs, runs):
                self.scores[g][j] = validation_scores(own, validation_tasks, self.plan.n_validation, self.vseeds[g],
                                                      metric=self.metric, device=self.plan.device)
                self.reached[g][j] = rung
                self.runs[g][j] = own

    def run(self, train_tasks, validation_tasks, seed_chunk):
        several = len(self.plan.rungs) > 1
        everyone = [s for group in self.groups for s in group]
        # where each sweep's state lies: (set, sweep) -> (checkpoint, its configurations, its seeds)
        state = {}
        sweeps = _groups(self.grid)
        for i, sweep in enumerate(sweeps):
            path = os.path.join(self.tmp, f"rung1-{i}.pt") if several else None
            swept = self._train(sweep, everyone, self.plan.rungs[0], path, 0, train_tasks, seed_chunk)
            at = 0
            for g, group in enumerate(self.groups):
                self._score(g, 0, sweep, [r[at:at + len(group)] for r in swept], validation_tasks)
                at += len(group)
                state[g, i] = (path, sweep, everyone)
        for g in range(len(self.groups)):
            if np.isinf(self.scores[g]).any(1).all():
                raise ValueError(f"every configuration of {self.name!r} diverged; widen or move its grid")
        survivors = self.plan.survivors(len(self.grid))
        for rung in range(1, len(self.plan.rungs)):
            for g, group in enumerate(self.groups):
                alive = np.flatnonzero(self.reached[g] == rung - 1)
                diverged = ~np.isfinite(self.scores[g])
                best = set(_ranking(self.scores[g], diverged, self.higher, alive)[:survivors[rung]])
                for i, sweep in enumerate(sweeps):
                    going = [j for j in sweep if j in best]
                    if not going:
                        continue
                    path, configs, seeds = state[g, i]
                    narrowed = os.path.join(self.tmp, f"rung{rung + 1}-set{g}-{i}.pt")
                    narrow_sweep(path, narrowed, [configs.index(j) for j in going], [seeds.index(s) for s in group])
                    runs = self._train(going, group, self.plan.rungs[rung], narrowed, rung, train_tasks, None)
                    self._score(g, rung, going, runs, validation_tasks)
                    state[g, i] = (narrowed, going, group)
