"""Means with 95% confidence intervals (Student t), the book's one statistic."""

from __future__ import annotations

import numpy as np
from scipy import stats as _st


def mean_ci(values, axis: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean and CI half-width of ``values`` along ``axis`` (t-interval; half-width NaN for one value)."""
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[axis]
    mean = v.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    sem = v.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, sem * _st.t.ppf(0.5 + level / 2, n - 1)


def fmt(mean: float, half: float, digits: int = 3) -> str:
    """``"0.123 ± 0.004"`` (``"1.59e+20 ± 4.4e+20"`` for diverged, huge values)."""
    if max(abs(mean), abs(half)) >= 1e4:
        return f"{mean:.3g} ± {half:.2g}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"
