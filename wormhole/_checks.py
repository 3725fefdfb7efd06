"""Argument checks shared by the package: each raises ``ValueError`` naming the argument."""

from __future__ import annotations

import math
from collections.abc import Iterable


def positive(name: str, value, *, allow_zero: bool = False) -> float:
    """Return ``float(value)`` if it is a finite rate > 0 (or >= 0 with ``allow_zero``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    bound_ok = v >= 0 if allow_zero else v > 0
    if not math.isfinite(v) or not bound_ok:
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {rule}, got {value!r}")
    return v


def count(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def choice(name: str, value, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def interval(name: str, value) -> tuple[float, float]:
    """Return a (low, high) pair of finite floats with low <= high."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must satisfy low <= high with finite ends, got {value!r}")
    return lo, hi
