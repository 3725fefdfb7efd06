"""Evaluation along the inner loop, on tasks drawn from an evaluation stream of their own."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import _checks
from .devices import resolve_device
from .learners.base import MetaLearner
from .seeding import stream_seed
from .stats import fmt, mean_ci
from .tasks.base import TaskFamily


#: the metric a problem is selected and judged on, by its loss: accuracy for classification, loss for regression
JUDGED_METRIC = {"bce": "accuracy", "ce": "accuracy", "mse": "loss"}


def judged_metric(loss) -> str:
    """``"accuracy"`` for a classification loss (``"bce"``, ``"ce"``), ``"loss"`` otherwise: the one
    metric on which tuning selects (:func:`wormhole.tuning.tune`) and the results page judges."""
    return JUDGED_METRIC.get(loss if isinstance(loss, str) else "", "loss")


HIGHER_IS_BETTER = {"loss": False, "accuracy": True}


@dataclass
class Evaluation:
    """Per-task query loss and accuracy after each number of inner steps.

    ``loss`` and ``accuracy`` have shape ``(n_tasks, len(steps))`` (accuracy NaN for
    regression); ``sign (n_tasks,)`` is each task's side of the family's symmetry.
    """

    steps: tuple
    loss: np.ndarray
    accuracy: np.ndarray
    sign: np.ndarray

    def summary(self) -> dict:
        """``{steps: {"loss", "loss_ci", "accuracy", "accuracy_ci"}}``: means over tasks with 95% CI half-widths."""
        out = {}
        for j, s in enumerate(self.steps):
            lm, lh = mean_ci(self.loss[:, j])
            am, ah = mean_ci(self.accuracy[:, j])
            out[s] = {"loss": float(lm), "loss_ci": float(lh), "accuracy": float(am), "accuracy_ci": float(ah)}
        return out

    def mean_loss(self, steps: int) -> float:
        """The query loss after ``steps`` inner steps, averaged over the evaluation tasks."""
        return float(self.loss[:, self.steps.index(steps)].mean())

    def __str__(self) -> str:
        """Loss (and accuracy, for classification; a regression task has none) per number of steps."""
        summary = self.summary()
        has_acc = all(np.isfinite(r["accuracy"]) for r in summary.values())
        rows = [f"{'steps':>5}  {'query loss':>18}" + (f"  {'accuracy':>18}" if has_acc else "")]
        for s, r in summary.items():
            rows.append(f"{s:>5}  {fmt(r['loss'], r['loss_ci']):>18}"
                        + (f"  {fmt(r['accuracy'], r['accuracy_ci']):>18}" if has_acc else ""))
        if not has_acc:
            rows.append("(no accuracy: a regression task)")
        return "\n".join(rows)


def evaluate(learner: MetaLearner, tasks: TaskFamily, n_tasks: int = 1000, *, steps=(0, 1, 2, 5, 10),
             seed: int = 1234, batch_size: int = 100, device="auto", stream: str = "eval") -> Evaluation:
    """Query loss and accuracy after each number of inner ``steps`` on ``n_tasks`` fresh tasks.

    Tasks come from a generator seeded from ``seed`` through a stream separate from
    training's, so evaluation never reuses training tasks' draws. The same
    ``seed`` gives every learner the same tasks. ``stream="validation"`` draws from the
    validation stream instead (what :mod:`wormhole.tuning` selects on), which coincides
    with neither the training nor the evaluation stream.
    """
    _checks.count("n_tasks", n_tasks)
    _checks.count("batch_size", batch_size)
    steps = tuple(sorted({_checks.count("steps", int(s), minimum=0) for s in steps}))
    if not steps:
        raise ValueError("steps must name at least one number of inner steps")
    device = resolve_device(device)
    learner = learner.to(device)
    gen = torch.Generator().manual_seed(stream_seed(seed, _checks.choice("stream", stream, ("eval", "validation"))))
    everything = tasks.sample(n_tasks, gen)  # one draw, so the tasks do not depend on batch_size
    learner.check_batch(everything)
    losses, accs = [], []
    for start in range(0, n_tasks, batch_size):
        batch = everything.select(slice(start, start + batch_size)).to(device)
        loss, acc = learner.losses_along_inner_loop(learner.meta_parameters(), *batch.tensors(), steps=steps)
        losses.append(loss.cpu().numpy())
        accs.append(acc.cpu().numpy())
    return Evaluation(steps, np.concatenate(losses), np.concatenate(accs), everything.sign.numpy())
