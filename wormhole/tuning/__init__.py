"""Fair tuning: every method gets the same budget, selection on a validation stream.

One module per step: :mod:`~wormhole.tuning.grids` (the grids and their widening),
:mod:`~wormhole.tuning.selection` (training every configuration and selecting),
:mod:`~wormhole.tuning.convergence` (a budget long enough), :mod:`~wormhole.tuning.protocol`
(the whole fair fight in one call) and :mod:`~wormhole.tuning.landscape` (where the wormhole
helps, across its own settings). Everything is importable from ``wormhole.tuning``.

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

from .convergence import FLAT_TAIL, Budget, Convergence, budgets, converged_budget, tail_change
from .grids import METHODS, evenly, grid_table, log_grid, standard_grids, widening
from .landscape import Landscape, landscape
from .plan import SearchPlan
from .protocol import FairFight, carry_over, compare_selected, compare_sets, fair_fight, search
from .selection import SELECTION_RULE, MethodTuning, Tuning, _select, tune, tune_sets, validation_scores  # noqa: F401

__all__ = ["METHODS", "SELECTION_RULE", "FLAT_TAIL", "Budget", "SearchPlan", "search", "Convergence", "FairFight", "Landscape", "MethodTuning",
           "Tuning", "budgets", "carry_over", "tail_change", "compare_selected", "compare_sets", "converged_budget",
           "evenly", "fair_fight", "grid_table", "landscape", "log_grid", "standard_grids", "tune", "tune_sets",
           "validation_scores", "widening"]
