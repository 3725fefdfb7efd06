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
    """The rule for a selection at the edge of a tuned range, as a function for
    :func:`~wormhole.tuning.search`: ``widen(setting, direction, tuning)`` gives every method ``k``
    more configurations (the same number for every method, so the budget stays equal) when a
    method of ``tuning`` selected the ``"lowest"`` or ``"highest"`` value its grid tried of
    ``setting`` (any numeric setting: α ``"inner_lr"``, α_w ``"wormhole_lr"``, w₀
    ``"wormhole_init"``, ...):

    * ``"inner_lr"``: every method's grid continues the α range one decade (``decades``) past that
      edge, log-spaced, built like :func:`standard_grids` (same ``model``, ``loss`` and
      ``grid_options``);
    * any other setting: a method that has it tries its selected configuration with ``k`` values
      continuing that setting's range one decade past the edge; a method without it gets ``k``
      values of α around its own selected α, within one step of its grid (the same count, spent on
      a setting it has).
    """
    k = _checks.count("k", k)
    decades = _checks.positive("decades", decades)

    def widen(setting: str, direction: str, tuning) -> dict[str, list[MetaLearner]]:
        _checks.choice("direction", direction, ("lowest", "highest"))
        sign = -1 if direction == "lowest" else 1
        values = sorted({r[setting] for m in tuning.methods.values() for r in m.records if _numeric(r.get(setting))})
        if not values:
            raise ValueError(f"setting {setting!r} is not a numeric setting of any method in the tuning")
        edge = values[0] if direction == "lowest" else values[-1]
        past = [float(f"{edge * 10 ** (sign * decades * (i + 1) / k):.12g}") for i in range(k)]
        if setting == "inner_lr":
            return standard_grids(model, loss, inner_lr, k=k, alphas=sorted(past), **grid_options)
        out = {}
        for name, m in tuning.methods.items():
            chosen = m.grid[m.selected]
            if _numeric(m.selected_record.get(setting)) and setting not in getattr(type(chosen), "fixed_arguments", ()):
                out[name] = [_variant(chosen, model, **{setting: v}) for v in past]
            else:
                out[name] = [_variant(chosen, model, inner_lr=a) for a in _around(chosen.inner_lr, m.records, k)]
        return out

    return widen


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _variant(learner: MetaLearner, model: nn.Module, **changes) -> MetaLearner:
    """The same method and settings as ``learner`` but ``changes``, around a copy of ``model``."""
    fixed = getattr(type(learner), "fixed_arguments", ())
    args = {key: v for key, v in learner._arguments.items() if key != "model" and key not in fixed}
    return type(learner)(copy.deepcopy(model), **{**args, **changes})


def _around(alpha: float, records: list[dict], k: int) -> list[float]:
    """``k`` values of α within one step of the grid's α (its median log-spacing) either side of
    ``alpha``, never ``alpha`` itself: alternately above and below, nearest last."""
    grid = sorted({r["inner_lr"] for r in records if _numeric(r.get("inner_lr"))})
    step = float(np.median(np.diff(np.log10(grid)))) if len(grid) > 1 else 0.1
    half = (k + 1) // 2
    offsets = [(1 if i % 2 == 0 else -1) * step * (i // 2 + 1) / (half + 1) for i in range(k)]
    return [float(f"{alpha * 10 ** o:.12g}") for o in offsets]


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
