"""Selection on a validation stream: every configuration of every grid trained with the same budget
and scored on the judged metric; one or several independent selections (one per set of tuning seeds)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .. import _checks
from ..evaluation import HIGHER_IS_BETTER, evaluate, judged_metric
from ..learners import MetaLearner
from ..report import SETTINGS, selected_table, short
from ..stats import fmt, mean_ci
from ..timing import phase
from ..tasks.base import TaskFamily
from ..training import check_sweep, meta_train_sweep


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
                per_seed = np.array([validation_scores(r, validation_tasks, n_validation, vseed, metric=metric, device=device)
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
