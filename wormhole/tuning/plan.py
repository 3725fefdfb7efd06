"""The schedule and budget of a search, as one value: :class:`SearchPlan`.

A search by *successive halving* (Jamieson & Talwalkar 2016; Hyperband and ASHA, Li et al.
2018, are its best-known forms) trains every configuration for a short first *rung*, keeps the
best fraction (``keep``) on the validation metric, trains the survivors on to the next rung, and
so on until the survivors of the last rung have trained as long as the selected settings will:
a setting that learns fast early is not chosen over one that is better at the length it will be
judged at, and most of the budget goes to the configurations still in the running.

Every method of a fair fight gets the same plan (rungs, survivors per rung, seeds), so the
budget stays equal. A plan with one rung and ``keep=1`` is the plain grid search.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .. import _checks
from ..evaluation import HIGHER_IS_BETTER


@dataclass(frozen=True)
class SearchPlan:
    """Everything a search needs besides the grids, the tasks and the seeds.

    Args:
        rungs: the iterations at the end of each rung, increasing; the survivors of the last
            rung have trained ``rungs[-1]`` iterations, which should be the length the selected
            settings then train for.
        keep: the fraction of a rung's configurations that go on to the next (at least one).
        meta_batch, meta_lr: every configuration's outer loop.
        n_validation: validation tasks per run and rung.
        metric: ``"loss"`` or ``"accuracy"``; ``None``: the judged metric of the training family's
            loss (:func:`wormhole.evaluation.judged_metric`).
        log_every: how often the runs log their diagnostics; ``None``: once, at the start (the
            selection reads only the validation score).
        max_widen: how many times, at most, a selection at the edge of a range may widen that
            range (each time with the same number of extra configurations for every method).
        progress, device: as for :func:`wormhole.meta_train`.

    Example::

        >>> plan = SearchPlan(rungs=(62, 250, 1000), keep=0.25)
        >>> plan.survivors(24)
        [24, 6, 2]
        >>> plan.cost(24)            # configuration-iterations per seed
        4116
    """

    rungs: tuple
    keep: float = 0.25
    meta_batch: int = 25
    meta_lr: float = 1e-3
    n_validation: int = 500
    metric: str | None = None
    log_every: int | None = None
    max_widen: int = 3
    progress: bool = True
    device: str = "auto"

    def __post_init__(self):
        rungs = tuple(int(_checks.count("rungs", r)) for r in self.rungs) if isinstance(self.rungs, (list, tuple)) \
            else None
        if not rungs or any(b <= a for a, b in zip(rungs, rungs[1:])):
            raise ValueError(f"rungs must be a non-empty, increasing sequence of iteration counts; got {self.rungs!r}")
        object.__setattr__(self, "rungs", rungs)
        if not 0 < float(self.keep) <= 1:
            raise ValueError(f"keep must be a fraction in (0, 1]; got {self.keep!r}")
        if len(rungs) > 1 and float(self.keep) == 1:
            raise ValueError("keep must be below 1 when there is more than one rung (else nothing is halved)")
        _checks.count("meta_batch", self.meta_batch)
        _checks.positive("meta_lr", self.meta_lr)
        _checks.count("n_validation", self.n_validation)
        if self.metric is not None:
            _checks.choice("metric", self.metric, tuple(HIGHER_IS_BETTER))
        if self.log_every is not None:
            _checks.count("log_every", self.log_every)
        _checks.count("max_widen", self.max_widen, minimum=0)

    @classmethod
    def grid(cls, iterations: int, **options) -> "SearchPlan":
        """The plain grid search: one rung of ``iterations``, every configuration to the end."""
        return cls(rungs=(int(iterations),), keep=1.0, **options)

    @property
    def iterations(self) -> int:
        """How long the survivors of the last rung trained."""
        return self.rungs[-1]

    def survivors(self, configurations: int) -> list[int]:
        """How many configurations train in each rung, starting from ``configurations``."""
        n = [_checks.count("configurations", configurations)]
        for _ in self.rungs[1:]:
            n.append(max(1, math.ceil(n[-1] * self.keep)))
        return n

    def cost(self, configurations: int) -> int:
        """Training iterations per seed over all configurations (survivors go on, never restart)."""
        starts = (0, *self.rungs[:-1])
        return sum(n * (end - start) for n, start, end in zip(self.survivors(configurations), starts, self.rungs))

    def describe(self) -> dict:
        """The plan as plain data (what a tuning record keeps)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
                if k not in ("progress", "device")}

    def table(self, configurations: int, title: str = ""):
        """The rungs as a :class:`wormhole.display.Table`: configurations per method, the
        iterations each reaches, and the share of the search's training each rung takes."""
        from ..display import table

        total = self.cost(configurations)
        rows, start = [], 0
        for i, (n, end) in enumerate(zip(self.survivors(configurations), self.rungs)):
            rows.append([str(i + 1), str(n), f"{start}→{end}", f"{n * (end - start) / total:.0%}"])
            start = end
        return table(rows, header=["rung", "configurations", "iterations", "share of the training"], title=title)


__all__ = ["SearchPlan"]
