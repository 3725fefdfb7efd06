"""How the book shows a number: the one rule, for tables, text and figures alike.

A number that does not apply (no accuracy for a regression task) reads ``n/a (reason)``; a value
from a run that blew up reads ``diverged``, never its digits (:data:`DIVERGED_ABOVE`); a missing
interval is left out rather than printed as ``± nan``. Figures draw values through
:func:`hide_diverged`, so that a blown-up seed never sets an axis. Only what is *shown*
changes: the statistics (:mod:`wormhole.stats`) see every value.
"""

from __future__ import annotations

import math

import numpy as np


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


#: a value at least this large (in absolute value) is shown as *diverged*, never as digits: the
#: book's metrics (query losses of order one, accuracies, cosines, counts of directions) reach it
#: only in a run that blew up
DIVERGED_ABOVE = 1e5


def is_diverged(values) -> np.ndarray:
    """Elementwise: not finite, or at least :data:`DIVERGED_ABOVE` in absolute value."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(v) | (np.abs(np.nan_to_num(v, nan=0.0)) >= DIVERGED_ABOVE)


def hide_diverged(values) -> np.ndarray:
    """A float copy of ``values`` with every diverged entry (:func:`is_diverged`) set to NaN, so that
    a figure's axes are set by the runs that did not diverge."""
    v = np.array(values, dtype=np.float64)
    v[is_diverged(v)] = np.nan
    return v


def number(value, digits: int = 3, reason: str = "", signed: bool = False) -> str:
    """``value`` to ``digits`` decimals, or ``"n/a"`` (with ``reason`` in brackets) when it is
    missing or not finite, ``"diverged"`` when it is huge (:data:`DIVERGED_ABOVE`)."""
    if not _finite(value):
        return f"n/a ({reason})" if reason else "n/a"
    if abs(float(value)) >= DIVERGED_ABOVE:
        return "diverged"
    return f"{float(value):{'+' if signed else ''}.{digits}f}"


def mean_pm(mean, half=None, digits: int = 3, reason: str = "", signed: bool = False) -> str:
    """``"0.123 ± 0.004"``; ``"0.123"`` when the half-width is not finite or zero to ``digits``
    decimals (one seed, or a quantity without spread); ``"n/a (reason)"`` when the mean is not."""
    if not _finite(mean):
        return f"n/a ({reason})" if reason else "n/a"
    if abs(float(mean)) >= DIVERGED_ABOVE or (_finite(half) and abs(float(half)) >= DIVERGED_ABOVE):
        return "diverged"   # a blown-up run's digits say nothing (:data:`DIVERGED_ABOVE`)
    text = f"{float(mean):{'+' if signed else ''}.{digits}f}"
    if half is not None and _finite(half) and round(float(half), digits) != 0:
        text += f" ± {float(half):.{digits}f}"
    return text
