"""The grids of a fair fight: every method explores α on one shared grid, with an equal budget."""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
from torch import nn

from .. import _checks
from ..labels import LEARNED_SCALE, LEARNED_STEP, MAML as MAML_LABEL, TUNED, WORMHOLE
from ..learners import MAML, LearnedScale, LearnedStep, MetaLearner, Wormhole
from ..report import SETTINGS, setting_values


#: the names :func:`standard_grids` gives the methods
METHODS = TUNED


def log_grid(center: float, decades: float = 1.0, n: int = 5) -> list[float]:
    """``n`` values log-spaced from ``center / 10**decades`` to ``center * 10**decades``
    (``[center]`` for ``n = 1``; the centre itself is on the grid for odd ``n``)."""
    center = _checks.positive("center", center)
    decades = _checks.positive("decades", decades, allow_zero=True)
    n = _checks.count("n", n)
    if n == 1:
        return [center]
    values = np.logspace(math.log10(center) - decades, math.log10(center) + decades, n)
    return [float(f"{v:.12g}") for v in values]  # 0.04, not 0.04000000000000001


def evenly(values: list, k: int) -> list:
    """``k`` entries of ``values`` spread evenly over it, in order (all of them when ``k >= len``)."""
    if k >= len(values):
        return list(values)
    return [values[int(i)] for i in np.round(np.linspace(0, len(values) - 1, k))]


def standard_grids(model: nn.Module, loss, inner_lr: float, k: int = 12, *, steps: int = 1,
                   first_order: bool = False, decades: float = 1.0, wormhole_factors=(1.0, 10.0, 100.0),
                   learned_factor: float = 1.0, w0s=(0.1, 0.5, 1.0), alphas=None) -> dict[str, list[MetaLearner]]:
    """The book's grids: ``k`` configurations per method (an equal budget) that all explore the
    inner rate α on **one shared grid**, ``log_grid(inner_lr, decades, k)``: configuration ``j`` of
    every method has the same α, the ``j``-th value (so every method explores α at the same
    resolution, over the same range). What a method adds varies with ``j`` as well:

    * ``"MAML"``: α alone;
    * ``"learned step"`` (:class:`~wormhole.LearnedStep`): α as the meta-learned rate's start;
    * ``"Wormhole"``: one of the ``(len(wormhole_factors) + 1) × len(w0s)`` combinations of α_w ∈
      ``wormhole_factors``·α or a learned α_w (``learn_wormhole_lr=True``, starting at
      ``learned_factor``·α) with w₀ ∈ ``w0s``, taken in a stride coprime with their number, so that
      neighbouring α values get different combinations and (for ``k`` a multiple of their number)
      every combination meets α across its whole range equally often;
    * ``"learned scale"`` (:class:`~wormhole.LearnedScale`): w₀ ∈ ``w0s`` the same way.

    Every learner gets its own copy of ``model``. ``decades >= 1`` keeps the range at least one
    decade either side of ``inner_lr`` (the protocol's minimum). ``alphas``: the α values themselves
    instead of ``log_grid(inner_lr, decades, k)`` (how :func:`widening` extends a range).
    """
    k = _checks.count("k", k)
    common = dict(loss=loss, steps=steps, first_order=first_order)

    def m():
        return copy.deepcopy(model)

    alphas = log_grid(inner_lr, decades, k) if alphas is None else [_checks.positive("alphas", float(a))
                                                                    for a in alphas]
    combos = list(itertools.product(list(wormhole_factors) + ["learned"], w0s))
    wormhole = []
    for j, a in enumerate(alphas):
        rate, w0 = combos[(j * _stride(len(combos))) % len(combos)]
        if rate == "learned":
            wormhole.append(Wormhole(m(), inner_lr=a, wormhole_lr=learned_factor * a, learn_wormhole_lr=True,
                                     wormhole_init=w0, **common))
        else:
            wormhole.append(Wormhole(m(), inner_lr=a, wormhole_lr=rate * a, wormhole_init=w0, **common))
    return {
        MAML_LABEL: [MAML(m(), inner_lr=a, **common) for a in alphas],
        WORMHOLE: wormhole,
        LEARNED_SCALE: [LearnedScale(m(), inner_lr=a, wormhole_init=w0s[(j * _stride(len(w0s))) % len(w0s)],
                                       **common) for j, a in enumerate(alphas)],
        LEARNED_STEP: [LearnedStep(m(), inner_lr=a, **common) for a in alphas],
    }


def _stride(n: int) -> int:
    """The smallest step > 1 coprime with ``n`` (1 for ``n <= 2``): walking ``0, s, 2s, ...`` mod ``n``
    visits every index once per ``n`` steps, and neighbours differ."""
    if n <= 2:
        return 1
    return next(s for s in range(2, n + 1) if math.gcd(s, n) == 1)


def widening(model: nn.Module, loss, inner_lr: float, k: int, decades: float = 1.0, **grid_options):
    """The rule for a selection at the edge of the α range, as a function for :func:`fair_fight`:
    ``widen(direction, alphas)`` gives every method ``k`` more configurations whose α continue the
    range one decade (``decades``) past its ``"lowest"`` or ``"highest"`` value, log-spaced at the
    grid's own resolution or finer, built like :func:`standard_grids` (same ``model``, ``loss`` and
    ``grid_options``) so that the budget stays equal."""
    k = _checks.count("k", k)
    decades = _checks.positive("decades", decades)

    def widen(direction: str, alphas) -> dict[str, list[MetaLearner]]:
        edge = min(alphas) if direction == "lowest" else max(alphas)
        sign = -1 if direction == "lowest" else 1
        new = [float(f"{edge * 10 ** (sign * decades * (i + 1) / k):.12g}") for i in range(k)]
        return standard_grids(model, loss, inner_lr, k=k, alphas=sorted(new), **grid_options)

    return widen


def grid_table(grids: dict, title: str = ""):
    """The grids as a :class:`wormhole.display.Table`, one row per method: its class, how many
    configurations (the budget) and the values each setting takes. Chapters show it *before* any
    result."""
    from ..display import table

    rows = []
    for name, grid in grids.items():
        records = [learner.describe() for learner in grid]
        rows.append([name, ", ".join(sorted({r["method"] for r in records})), str(len(records)),
                     *[setting_values(records, key) for key, _ in SETTINGS]])
    return table(rows, header=["method", "class", "configurations", *[sym for _, sym in SETTINGS]], title=title)
