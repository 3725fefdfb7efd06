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
from .plan import SearchPlan
from .selection import Tuning, tune


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


def _converge_each(learners: dict, train_tasks: TaskFamily, validation_tasks: TaskFamily, seeds, folder: str,
                   **options) -> tuple[dict, dict]:
    """:func:`converged_budget` for every learner of ``learners`` (``{label: template}``), each
    leaving its runs' checkpoint in ``folder`` so that training can go on from it: returns
    ``({label: Convergence}, {label: checkpoint path})``; ``options`` go to ``converged_budget``."""
    kept = {label: os.path.join(folder, f"{j}.pt") for j, label in enumerate(learners)}
    done = {label: converged_budget(learner, train_tasks, validation_tasks, seeds, keep=kept[label], **options)
            for label, learner in learners.items()}
    return done, kept


def train_until_flat(name: str, learners: dict, train_tasks: TaskFamily, eval_tasks: TaskFamily, seeds, *,
                     start: int, cap: int, validation_tasks: TaskFamily | None = None, n_validation: int = 500,
                     validation_seed: int | None = None, metric: str = "loss", meta_batch: int = 25,
                     meta_lr: float = 1e-3, log_every: int = 50, progress: bool = True, device="auto",
                     **compare_options) -> tuple[Comparison, Budget]:
    """Train every learner of ``learners`` (``{label: template}``) until its validation curve is
    flat (:func:`converged_budget`, from ``start`` doubling up to ``cap``), then all of them on to
    the largest budget any needed, going on from the convergence runs, and evaluate on
    ``eval_tasks`` (:func:`wormhole.experiments.compare`; ``compare_options`` such as ``n_eval``,
    ``steps``, ``eval_seed``). ``validation_tasks``: default ``train_tasks``' validation stream of
    ``validation_seed`` (default: the first seed). Returns the comparison (its budget record under
    ``config["convergence"]``) and the :class:`Budget`."""
    seeds = [int(s) for s in seeds]
    validation_tasks = train_tasks.validation() if validation_tasks is None else validation_tasks
    vseed = seeds[0] if validation_seed is None else int(validation_seed)
    training = dict(meta_batch=meta_batch, meta_lr=meta_lr, progress=progress, device=device)
    with tempfile.TemporaryDirectory() as tmp:
        methods, kept = _converge_each(learners, train_tasks, validation_tasks, seeds, tmp, start=start, cap=cap,
                                       n_validation=n_validation, validation_seed=vseed, metric=metric,
                                       log_every=log_every, **training)
        budget = Budget(max(c.iterations for c in methods.values()), methods)
        comparison = compare(name, learners, train_tasks, eval_tasks, seeds, iterations=budget.iterations,
                             log_every=log_every, resume={label: (seeds, path) for label, path in kept.items()},
                             **training, **compare_options)
    comparison.config["convergence"] = budget.record()
    return comparison, budget


def search(grids: dict, train_tasks: TaskFamily, plan: SearchPlan, seeds, *, validation_tasks: TaskFamily | None = None,
           widen=None, announce=None) -> Tuning:
    """One set of tuning seeds' whole search: :func:`tune` with ``plan`` (successive halving), then,
    while a method's selection sits at the lowest or highest value its grid tried of any numeric
    setting (:attr:`MethodTuning.at_edge`) and ``widen`` is given (e.g. :func:`widening`), another
    bracket of the same halving over ``widen(setting, direction, tuning)`` (the same number of new
    configurations for every method) and the selection made again over every last-rung survivor;
    at most ``plan.max_widen`` times. A selection still at an edge stays flagged in the record
    (``budget["widened"]`` lists each widening). ``announce``: a function of one string."""
    say = announce or (lambda message: None)
    if not isinstance(plan, SearchPlan):
        raise ValueError(f"plan must be a wormhole.tuning.SearchPlan; got {type(plan).__name__}")
    seeds = [int(s) for s in seeds]
    k = len(next(iter(grids.values())))
    say(f"searching on seeds {seeds}: {' → '.join(map(str, plan.survivors(k)))} configurations per method "
        f"at {' → '.join(map(str, plan.rungs))} iterations")
    tuning = tune(grids, train_tasks, validation_tasks, plan, seeds)
    for _ in range(plan.max_widen if widen is not None else 0):
        edge = next(((key, where) for m in tuning.methods.values() for key, where in m.at_edge.items()), None)
        if edge is None:
            break
        say(f"widening: a selected {edge[0]} sits at the {edge[1]} value tried")
        more = tune(widen(*edge, tuning), train_tasks, validation_tasks, plan, seeds)
        tuning = tuning.extended(more, f"{edge[0]} past its {edge[1]} value")
    return tuning


@dataclass
class FairFight:
    """One problem's fair fight (:func:`fair_fight`): the tuning (``tunings``: one per replication
    set; ``tuning`` is the first), the budget every selected method trained for (with each
    method's convergence, per set) and the comparison of the selected settings (with the package
    defaults) on fresh seeds."""

    tuning: Tuning
    convergence: Budget
    comparison: Comparison
    tunings: list = field(default_factory=list)

    def summary(self) -> str:
        """Plain text: the search, the iterations used and why."""
        state = ("every method converged" if self.convergence.converged else
                 f"NOT converged at the cap: {', '.join(self.convergence.not_converged)}")
        b = self.tuning.budget
        survivors = " → ".join(map(str, b.get("survivors", [b["configurations"]])))
        rungs = " → ".join(map(str, b.get("rungs", [b["iterations"]])))
        sizes = sorted({t.budget["configurations"] for t in self.tunings or [self.tuning]})
        longer = ("" if self.convergence.iterations == b["iterations"] else
                  f"; the selected settings needed {self.convergence.iterations} iterations to converge, longer than "
                  f"the last rung" if self.convergence.iterations > b["iterations"] else "")
        return (f"{self.comparison.name}: searched by successive halving, {survivors} configurations per method at "
                f"{rungs} iterations, on {len(b['seeds'])} tuning seeds per set, separately for each seed set "
                f"({' and '.join(str(t.budget['seeds']) for t in self.tunings or [self.tuning])}; "
                f"{' or '.join(map(str, sizes))} configurations per method after widening); selected settings "
                f"retrained for {self.convergence.iterations} iterations ({state}{longer}) on "
                f"{len(self.comparison.config['seeds'])} fresh seeds")


def fair_fight(name: str, grids: dict, train_tasks: TaskFamily, eval_tasks: TaskFamily, *, plan: SearchPlan,
               tuning_seeds, seeds, converge_cap: int, tunings: list | None = None, defaults: dict | None = None,
               validation_tasks: TaskFamily | None = None, n_eval: int = 500, eval_seed: int = 1234,
               log_every: int = 50, seed_chunk: int | None = None, widen=None, announce=None) -> FairFight:
    """The book's protocol for one problem, in order:

    1. :func:`search` every method's grid with the same ``plan`` (successive halving, widened
       past any edge with ``widen``), separately for each list of ``tuning_seeds`` (two disjoint
       lists, one per replication set of :func:`wormhole.seeding.seed_sets`, so that the two sets
       also replicate the selection; one list: one selection shared by both). ``tunings``: the
       finished searches (one per list of ``tuning_seeds``), when a chapter ran them in cells of
       their own;
    2. :func:`converged_budget` for **every** selected method, on the validation tasks and the
       fresh seeds of the set the selection is for, from the length the last rung's survivors
       trained (``plan.iterations``) up to ``converge_cap``: every method of every set then trains
       for the **largest** budget any of them needed (the cap where one never converged, which
       the record says);
    3. :func:`compare_sets` on all the fresh ``seeds`` at that budget, the ``defaults``
       (``{label: learner}``) trained beside them. The runs of a convergence check go on from where
       it left them (the same runs, not trained twice) unless ``seed_chunk`` splits the seeds.

    ``validation_tasks`` defaults to ``train_tasks.validation()`` (the same family, whose *stream*
    differs; an image family's validation split). The budget record is kept under
    ``comparison.config["convergence"]``. ``announce``: a function of one string, called as each
    phase starts (e.g. ``print``)."""
    say = announce or (lambda message: None)
    if not isinstance(plan, SearchPlan):
        raise ValueError(f"plan must be a wormhole.tuning.SearchPlan; got {type(plan).__name__}")
    validation_tasks = train_tasks.validation() if validation_tasks is None else validation_tasks
    tuning_seeds = list(tuning_seeds)
    repeated = bool(tuning_seeds) and all(isinstance(t, (list, tuple, range)) for t in tuning_seeds)
    groups = [list(t) for t in tuning_seeds] if repeated else [tuning_seeds]
    if repeated and len(groups) != 2:
        raise ValueError(f"tuning_seeds must be a list of seeds or a pair of lists (one per seed set); got "
                         f"{len(groups)} lists")
    if tunings is None:
        tunings = [search(grids, train_tasks, plan, group, validation_tasks=validation_tasks, widen=widen,
                          announce=say) for group in groups]
    elif [t.budget["seeds"] for t in tunings] != [[int(s) for s in g] for g in groups]:
        raise ValueError(f"tunings must hold one finished search per list of tuning_seeds {groups}; got searches on "
                         f"{[t.budget['seeds'] for t in tunings]}")
    sets = seed_sets(seeds)[:len(tunings)]
    start = plan.iterations
    cap = max(_checks.count("converge_cap", converge_cap), start)
    training = dict(meta_batch=plan.meta_batch, meta_lr=plan.meta_lr, progress=plan.progress, device=plan.device)
    say(f"converging: every selected method trains until its validation curve is flat ({start} to {cap} iterations)")
    with tempfile.TemporaryDirectory() as tmp:
        methods, resume = {}, []
        for i, (tuning, part) in enumerate(zip(tunings, sets)):
            done, kept = _converge_each(tuning.selected(), train_tasks, validation_tasks, part,
                                        tempfile.mkdtemp(dir=tmp), start=start, cap=cap,
                                        n_validation=plan.n_validation,
                                        validation_seed=tuning.budget["validation_seed"],
                                        metric=tuning.budget["metric"], log_every=log_every, **training)
            methods.update({label if len(tunings) == 1 else f"{label} (set {i + 1})": c for label, c in done.items()})
            resume.append({label: (part, path) for label, path in kept.items()} if seed_chunk is None else None)
        budget = Budget(max(c.iterations for c in methods.values()), methods)
        say(f"training: the selected settings for {budget.iterations} iterations on {len(list(seeds))} fresh seeds")
        comparison = compare_sets(name, tunings, train_tasks, eval_tasks, seeds, iterations=budget.iterations,
                                  defaults=defaults, n_eval=n_eval, eval_seed=eval_seed, log_every=log_every,
                                  seed_chunk=seed_chunk, resume=resume, timing="judged fight", **training)
    comparison.config["convergence"] = budget.record()
    comparison.config["search"] = plan.describe()
    return FairFight(tunings[0], budget, comparison, list(tunings))
