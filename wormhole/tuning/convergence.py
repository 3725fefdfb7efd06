"""Converged budgets: grow a selected method's training until its validation curve is flat."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

from .. import _checks
from ..learners import MetaLearner
from ..stats import mean_ci
from ..timing import phase
from ..tasks.base import TaskFamily
from ..training import meta_train_seeds
from .selection import validation_scores


#: the convergence rule's tail: a budget N is flat when its last FLAT_TAIL of training moves the validation score
#: by less than that score's 95% CI (:func:`converged_budget`)
FLAT_TAIL = 0.2


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
                return validation_scores(runs, validation_tasks, n_validation, validation_seed, metric=metric, device=device)

        for n in plan:
            before, after = score_at(round((1 - FLAT_TAIL) * n)), score_at(n)
            mean, ci, flat = tail_change(before, after)
            checks.append({"iterations": n, "change": mean, "ci": ci, "flat": flat,
                           "validation_score": float(np.mean(after))})
            if flat:
                return Convergence(n, True, checks)
    return Convergence(plan[-1], False, checks)
