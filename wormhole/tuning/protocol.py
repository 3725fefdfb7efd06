"""The whole protocol in one call: tune, converge, retrain the selected settings on fresh seeds."""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass, field

from torch import nn

from .. import _checks
from ..experiments import Comparison, compare
from ..seeding import seed_sets
from ..learners import MetaLearner
from ..tasks.base import TaskFamily
from .convergence import Budget, converged_budget
from .selection import Tuning, tune_sets


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
    from ..experiments import merge

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


def fair_fight(name: str, grids: dict, train_tasks: TaskFamily, eval_tasks: TaskFamily, *, tuning_seeds, seeds,
               tune_iterations: int, converge_start: int, converge_cap: int, defaults: dict | None = None,
               validation_tasks: TaskFamily | None = None, meta_batch: int = 25, meta_lr: float = 1e-3,
               n_validation: int = 500, n_eval: int = 500, eval_seed: int = 1234, log_every: int = 50,
               progress: bool = True, device="auto", seed_chunk: int | None = None,
               metric: str | None = None, widen=None, max_widen: int = 2, announce=None) -> FairFight:
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
    of the family's loss). The budget record is kept under ``comparison.config["convergence"]``.
    ``announce``: a function of one string, called as each phase starts (e.g. ``print``)."""
    say = announce or (lambda message: None)
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
    say(f"tuning: {sum(len(g) for g in grids.values())} configurations × {tune_iterations} iterations × "
        f"{len(groups)} seed set(s)")
    tunings = tune_sets(grids, train_tasks, validation_tasks, tune_iterations, groups, **tuning_options)
    for _ in range(_checks.count("max_widen", max_widen, minimum=0) if widen is not None else 0):
        edges = sorted({t[name].at_edge.get("inner_lr") for t in tunings for name in t.methods} - {None})
        if not edges:
            break
        for direction in edges:
            say(f"widening: a selected α sits at the {direction} value tried")
            alphas = sorted({learner.inner_lr for m in tunings[0].methods.values() for learner in m.grid})
            more = tune_sets(widen(direction, alphas), train_tasks, validation_tasks, tune_iterations, groups,
                             **tuning_options)
            tunings = [t.extended(e, direction) for t, e in zip(tunings, more)]
    sets = seed_sets(seeds)[:len(tunings)]
    start = max(converge_start, tune_iterations)
    cap = max(converge_cap, converge_start, tune_iterations)
    say(f"converging: every selected method trains until its validation curve is flat ({start} to {cap} iterations)")
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
        say(f"training: the selected settings for {budget.iterations} iterations on {len(list(seeds))} fresh seeds")
        comparison = compare_sets(name, tunings, train_tasks, eval_tasks, seeds, iterations=budget.iterations,
                                  defaults=defaults, n_eval=n_eval, eval_seed=eval_seed, log_every=log_every,
                                  progress=progress, device=device, seed_chunk=seed_chunk, resume=resume)
    comparison.config["convergence"] = budget.record()
    return FairFight(tunings[0], budget, comparison, tunings)
