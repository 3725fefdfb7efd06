"""Fair tuning: every method gets the same search, selection on a validation stream.

One module per step: :mod:`~wormhole.tuning.grids` (the grids and their widening),
:mod:`~wormhole.tuning.plan` (:class:`SearchPlan`, the schedule and budget of a search),
:mod:`~wormhole.tuning.selection` (training every configuration by successive halving and
selecting), :mod:`~wormhole.tuning.convergence` (a budget long enough),
:mod:`~wormhole.tuning.protocol` (one seed set's search, and the whole fair fight in one call) and
:mod:`~wormhole.tuning.landscape` (where the wormhole helps, across its own settings). Everything
is importable from ``wormhole.tuning``.

The protocol, in three calls:

1. :func:`search` runs every method's grid (grids of equal size K, the same :class:`SearchPlan`
   and tuning seeds for all) by **successive halving**: every configuration trains the first
   rung, the best fraction on the **validation** tasks trains on to the next rung, and so on
   until the last rung's survivors have trained as long as the selected settings will; rungs
   are vectorised sweeps (:func:`~wormhole.meta_train_sweep`) and survivors go on from their
   checkpoint (:func:`~wormhole.training.narrow_sweep`). The validation tasks are the family's
   validation split where it has one (MNIST: images disjoint from training and test), always
   the validation stream (:func:`~wormhole.seeding.stream_seed` purpose ``"validation"`` of the
   first tuning seed). The rule (:data:`SELECTION_RULE`) scores the *judged* metric
   (:func:`wormhole.evaluation.judged_metric`) after the learner's own number of training inner
   steps. A selection at the edge of any setting's range adds another bracket
   (:func:`widening`), the same number of configurations for every method.
2. :func:`converged_budget` grows the budget of every selected method from the last rung's
   length until its validation curve is flat: the last 20% of training changes the validation
   score by less than the 95% CI of that change (over seeds).
3. :func:`compare_selected` retrains the selected configurations with **fresh** seeds and
   evaluates them on the evaluation stream through :func:`wormhole.experiments.compare`.

:func:`fair_fight` runs the three for each of two replication sets.

Example::

    grids = wh.tuning.standard_grids(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4, k=24)
    plan = wh.tuning.SearchPlan(rungs=(62, 250, 1000), keep=0.25, meta_lr=3e-3)
    tuning = wh.tuning.search(grids, wh.tasks.Threshold(), plan, seeds=[100, 101])
    print(tuning.table())
    comparison = wh.tuning.compare_selected("threshold-tuned", tuning, wh.tasks.Threshold(),
                                            wh.tasks.Threshold(), seeds=range(10))

Where a search does not fit the time budget (the MNIST ConvNet on the CPU), settings selected on
a cheaper model can be carried over (:func:`carry_over`); such a comparison is exploratory, not
a fair fight.
"""

from .convergence import FLAT_TAIL, Budget, Convergence, budgets, converged_budget, tail_change
from .grids import METHODS, evenly, grid_table, log_grid, standard_grids, widening
from .landscape import Landscape, landscape
from .plan import SearchPlan
from .protocol import FairFight, carry_over, compare_selected, compare_sets, fair_fight, search, train_until_flat
from .selection import SELECTION_RULE, MethodTuning, Tuning, _select, tune, tune_sets, validation_scores  # noqa: F401

__all__ = ["METHODS", "SELECTION_RULE", "FLAT_TAIL", "Budget", "SearchPlan", "search", "train_until_flat", "Convergence", "FairFight", "Landscape", "MethodTuning",
           "Tuning", "budgets", "carry_over", "tail_change", "compare_selected", "compare_sets", "converged_budget",
           "evenly", "fair_fight", "grid_table", "landscape", "log_grid", "standard_grids", "tune", "tune_sets",
           "validation_scores", "widening"]
