"""The smallest effect of interest of every judged metric: the book's practical margins.

A difference smaller than its metric's margin does not matter to a user choosing a method, so
the verdict rule (:mod:`wormhole.stats`) never calls it *better* or *worse*: it tests, beside
"is the difference zero?", "is the difference inside ± margin?" (two one-sided tests), and a
unit whose difference is inside the margin reads *no practical difference*, however small its
p-value. Each margin is chosen from what the metric means and from its scale, never from a
build's numbers; the reason travels with the value and the results page prints both.

===================================  ============  ==============================================
metric                               margin        reason (short)
===================================  ============  ==============================================
``accuracy``                         0.02          two percentage points
``loss``                             10% of base   a tenth of the baseline's own query loss
``conflict`` (and during training)   0.05          a cosine between per-task meta-gradients
``added_directions`` (and adapted)   0.5           half a function-space direction
===================================  ============  ==============================================

Example::

    >>> from wormhole.margins import margin_for
    >>> margin_for("accuracy", [0.80, 0.82])
    0.02
    >>> round(margin_for("loss", [0.40, 0.60]), 6)   # relative: a tenth of the baseline's mean
    0.05
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Margin:
    """The smallest effect of interest of one metric.

    ``size``: the margin itself, or with ``relative=True`` the fraction of the baseline's mean
    (over its finite seeds) that makes it. ``reason``: one sentence, printed with the value.
    """

    metric: str
    size: float
    relative: bool
    reason: str

    def absolute(self, baseline) -> float:
        """The margin in the metric's own units for per-seed ``baseline`` values (NaN when a
        relative margin has no finite baseline value to scale)."""
        if not self.relative:
            return float(self.size)
        b = np.asarray(baseline, dtype=np.float64).ravel()
        b = b[np.isfinite(b)]
        return float(self.size * abs(b.mean())) if b.size else float("nan")

    def describe(self) -> str:
        """``"accuracy: ± 0.02 (two percentage points ...)"``, for the results page."""
        size = f"± {self.size:.0%} of the baseline's mean" if self.relative else f"± {self.size:g}"
        return f"{self.metric}: {size} ({self.reason})"


#: one margin per kind of judged metric (the step count does not change it)
MARGINS: dict[str, Margin] = {m.metric: m for m in (
    Margin("accuracy", 0.02, False,
           "two percentage points: the ± that few-shot papers print for one model on 600 test tasks "
           "is 1 to 2 points (MAML on miniImageNet: 48.70 ± 1.84%, 63.11 ± 0.92%), so a smaller gain "
           "is invisible in their tables and no reason to change method"),
    Margin("loss", 0.10, True,
           "a tenth of the baseline's query loss: the published sinusoid errors of MAML and Meta-SGD "
           "(Li et al. 2017) carry a ± of 16 to 20% of their value (MAML, 5 shots: 1.13 ± 0.18), so "
           "a smaller change lies well within what the literature reports as one number"),
    Margin("conflict", 0.05, False,
           "a cosine of 0.05 between two tasks' meta-gradients is a turn of about 3 degrees at right "
           "angles; a smaller change leaves which task pairs conflict (negative cosine) almost "
           "the same"),
    Margin("added_directions", 0.5, False,
           "half a direction: the measure counts whole function-space directions, so a mean "
           "difference under one half is not one added direction on most seeds"),
)}
MARGINS["conflict_during_training"] = Margin("conflict_during_training", MARGINS["conflict"].size, False,
                                             MARGINS["conflict"].reason)
MARGINS["added_directions_adapted"] = Margin("added_directions_adapted", MARGINS["added_directions"].size, False,
                                             MARGINS["added_directions"].reason)


def margin_for(metric: str, baseline) -> float:
    """The practical margin of ``metric`` in its own units, for the per-seed ``baseline`` values
    of the comparison (a relative margin scales with the baseline's mean).

    Raises:
        ValueError: ``metric`` has no margin (the known ones are the keys of :data:`MARGINS`).
    """
    if metric not in MARGINS:
        raise ValueError(f"metric {metric!r} has no practical margin; known: {sorted(MARGINS)}")
    return MARGINS[metric].absolute(baseline)


__all__ = ["MARGINS", "Margin", "margin_for"]
