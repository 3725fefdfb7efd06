"""An outside anchor: the package's trained learners against numbers a paper published.

Every other check of the package compares it with itself (gradients against an independent
loop, a learner against its ablation). This module compares a *trained* learner with the
literature: :func:`across_shots` evaluates the runs of a comparison on tasks with other
numbers of support examples, and :func:`against_published` says, cell by cell, whether the
published mean lies inside the book's interval and the book's mean inside the published one.

Where the book still differs from the paper, :func:`changes` sets the cells of several trainings
side by side, each differing from the one before in one thing (the task family, the budget, an
initialisation), and :func:`changes_table` shows which change moves the numbers.

Example::

    ours = across_shots(comparison, lambda k: wh.tasks.Sinusoid(shots=k, queries=100), (5, 10, 20),
                        n_tasks=1000, seed=7)
    rows = against_published(ours, {"MAML": {5: (1.13, 0.18)}})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _checks
from .evaluation import evaluate
from .experiments import Comparison
from .stats import mean_ci
from .tasks import TaskFamily


@dataclass(frozen=True)
class Cell:
    """One method at one number of shots: the book's mean and 95% CI half-width over seeds (each
    seed's mean over its evaluation tasks), its per-seed means, and the published mean ± half-width."""

    method: str
    shots: int
    mean: float
    half_width: float
    per_seed: tuple
    published: float | None = None
    published_half_width: float | None = None

    @property
    def published_inside_ours(self) -> bool | None:
        """Whether the published mean lies inside the book's interval (``None``: nothing published)."""
        if self.published is None or not np.isfinite(self.mean):
            return None
        return bool(abs(self.published - self.mean) <= self.half_width)

    @property
    def ours_inside_published(self) -> bool | None:
        """Whether the book's mean lies inside the published interval (``None``: nothing published)."""
        if self.published is None or not np.isfinite(self.mean):
            return None
        return bool(abs(self.mean - self.published) <= self.published_half_width)


    @property
    def position(self) -> str | None:
        """Where the book's mean lies against the published interval: ``"inside"``, ``"below"`` or
        ``"above"`` (``None``: nothing published or the book's mean is not finite)."""
        if self.ours_inside_published is None:
            return None
        if self.ours_inside_published:
            return "inside"
        return "below" if self.mean < self.published else "above"


def across_shots(comparison: Comparison, make_tasks: Callable[[int], TaskFamily], shots, *, n_tasks: int = 1000,
                 seed: int = 1234, steps: int = 1) -> dict[str, dict[int, Cell]]:
    """Evaluate every run of ``comparison`` on ``make_tasks(k)`` for each ``k`` in ``shots``: the query
    loss after ``steps`` inner steps, averaged over ``n_tasks`` tasks per seed (the same tasks for
    every method: they come from ``seed``'s evaluation stream). Returns
    ``{method: {k: Cell}}`` with the mean and 95% CI over seeds."""
    shots = [_checks.count("shots", int(k)) for k in shots]
    if not shots:
        raise ValueError("shots must name at least one number of support examples")
    _checks.count("n_tasks", n_tasks)
    steps = _checks.count("steps", steps, minimum=0)
    out = {}
    for name, result in comparison.methods.items():
        out[name] = {}
        for k in shots:
            tasks = make_tasks(k)
            if tasks.shots != k:
                raise ValueError(f"make_tasks({k}) must return a family with shots={k}; got shots={tasks.shots}")
            per_seed = [evaluate(run.learner, tasks, n_tasks, steps=(steps,), seed=seed).mean_loss(steps) for run in result.runs]
            mean, half = mean_ci(per_seed)
            out[name][k] = Cell(name, k, float(mean), float(half), tuple(per_seed))
    return out


def against_published(ours: dict[str, dict[int, Cell]], published: dict) -> list[Cell]:
    """The cells of ``ours`` with the published ``{method: {shots: (mean, half_width)}}`` attached,
    method by method and shots in order; a method or shot count nobody published keeps ``None``."""
    rows = []
    for method, cells in ours.items():
        for k, cell in sorted(cells.items()):
            mean, half = published.get(method, {}).get(k, (None, None))
            rows.append(Cell(cell.method, k, cell.mean, cell.half_width, cell.per_seed,
                             None if mean is None else float(mean), None if half is None else float(half)))
    return rows


def late_change(result, window: float = 0.1) -> tuple[float, float, bool]:
    """Whether a method's training curve was still moving when training stopped: per seed, the mean
    meta-loss over the last ``window`` of the iterations minus its mean over the same window
    ending at the start of the last fifth (:data:`wormhole.tuning.FLAT_TAIL`), tested paired by
    seed with :func:`wormhole.tuning.tail_change`: ``(mean change, CI half-width, flat)``."""
    from .tuning import FLAT_TAIL, tail_change

    if not 0 < window <= FLAT_TAIL:
        raise ValueError(f"window must be in (0, {FLAT_TAIL}], got {window!r}")
    before, after = [], []
    for run in result.runs:
        loss = np.asarray(run.history.meta_loss, dtype=float)
        n = len(loss)
        w = max(1, int(round(window * n)))
        cut = int(round((1 - FLAT_TAIL) * n))
        before.append(loss[max(0, cut - w):cut].mean())
        after.append(loss[n - w:].mean())
    return tail_change(before, after)


def describe(rows: list[Cell], method: str, digits: int = 2) -> str:
    """One sentence on ``method``'s cells: at which shot counts the book's mean lies inside the
    published interval, and below or above it elsewhere, with both numbers."""
    cells = [c for c in rows if c.method == method and c.position is not None]
    if not cells:
        raise ValueError(f"no published number for method {method!r}")
    parts = []
    for where in ("inside", "below", "above"):
        here = [c for c in cells if c.position == where]
        if here:
            numbers = "; ".join(f"{c.shots} shots: {c.mean:.{digits}f} ± {c.half_width:.{digits}f} against "
                                f"{c.published:.{digits}f} ± {c.published_half_width:.{digits}f}" for c in here)
            parts.append(f"{where} the published interval ({numbers})")
    return ", and ".join(parts)


def in_brief(rows: list[Cell], method: str) -> str:
    """:func:`describe` without the numbers: e.g. ``"inside the published interval at 10 and 20
    shots, below it at 5 shots"``."""
    cells = [c for c in rows if c.method == method and c.position is not None]
    if not cells:
        raise ValueError(f"no published number for method {method!r}")

    def shots(ks):
        ks = [str(k) for k in ks]
        return ks[0] if len(ks) == 1 else ", ".join(ks[:-1]) + " and " + ks[-1]

    parts = []
    for where in ("inside", "below", "above"):
        ks = [c.shots for c in cells if c.position == where]
        if ks:
            it = "the published interval" if not parts else "it"
            parts.append(f"{where} {it} at {shots(ks)} shots")
    return ", ".join(parts)


def table(rows: list[Cell], title: str = ""):
    """The rows as a :func:`wormhole.display.table`: the book's mean ± CI, the published one, and
    whether each lies inside the other's interval."""
    from . import display

    def yes_no(v):
        return "–" if v is None else ("yes" if v else "no")

    body = [(c.method, c.shots, display.mean_pm(c.mean, c.half_width, 2),
             "–" if c.published is None else display.mean_pm(c.published, c.published_half_width, 2),
             yes_no(c.published_inside_ours), yes_no(c.ours_inside_published)) for c in rows]
    return display.table(body, ("method", "shots", "this book", "published", "published in ours",
                                "ours in published"), title=title)


def changes(stages: dict, published: dict, shots=(10, 20), *, n_tasks: int = 1000, seed: int = 1234,
            steps: int = 1) -> dict[str, list[Cell]]:
    """One controlled change at a time: ``stages`` maps a label (what this stage changed from the
    one before, in order) to ``(comparison, make_tasks)``, the trained runs and the family they are
    tested on (``make_tasks(k)`` with ``k`` shots). Returns ``{label: cells}``, each stage's
    :func:`across_shots` at ``shots`` with the published numbers attached (methods nobody
    published are left out)."""
    out = {}
    for label, (comparison, make_tasks) in stages.items():
        cells = across_shots(comparison, make_tasks, shots, n_tasks=n_tasks, seed=seed, steps=steps)
        out[label] = [c for c in against_published(cells, published) if c.published is not None]
    return out


def moved_most(staged: dict[str, list[Cell]]) -> tuple[str, float]:
    """The change (a label of :func:`changes` after the first) that moved the cells it shares with
    the stage before it the most: ``(label, mean |change| in units of the published half-width)``."""
    labels = list(staged)
    if len(labels) < 2:
        raise ValueError("staged must hold at least two stages (a start and one change)")
    best = None
    for before, after in zip(labels, labels[1:]):
        old = {(c.method, c.shots): c for c in staged[before]}
        moves = [abs(c.mean - old[c.method, c.shots].mean) / c.published_half_width
                 for c in staged[after] if (c.method, c.shots) in old and c.published_half_width]
        if moves and (best is None or np.mean(moves) > best[1]):
            best = (after, float(np.mean(moves)))
    if best is None:
        raise ValueError("no two consecutive stages share a method and shot count")
    return best


def changes_table(staged: dict[str, list[Cell]], title: str = ""):
    """:func:`changes` as a :func:`wormhole.display.table`: one row per stage, one column per method
    and shot count, each cell the book's mean ± 95% CI and where it lies against the published
    interval (``inside``, ``below``, ``above``); a last row with the published numbers."""
    from . import display

    columns = list(dict.fromkeys((c.method, c.shots) for cells in staged.values() for c in cells))
    rows = []
    for label, cells in staged.items():
        by = {(c.method, c.shots): c for c in cells}
        rows.append([label, *[(f"{display.mean_pm(by[k].mean, by[k].half_width, 2)} ({by[k].position})"
                               if k in by else "–") for k in columns]])
    first = {(c.method, c.shots): c for cells in staged.values() for c in cells}
    rows.append(["published", *[display.mean_pm(first[k].published, first[k].published_half_width, 2)
                                for k in columns]])
    return display.table(rows, ("training", *[f"{m}, {k} shots" for m, k in columns]), title=title)
