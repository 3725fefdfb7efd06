"""Where the time goes: wall-clock seconds per phase of the protocol, recorded by the package.

The protocol's functions time their own phases (:func:`phase`): tuning's training and
validation, convergence, the comparisons' training, evaluation and diagnostics, the gradient
conflict logged during training. Each phase counts its *own* time: a phase that runs inside
another (conflict logging inside training) is subtracted from the outer one, so the phases add
up to the time spent in the package's protocol. A chapter reads :func:`summary` at its end.

Example::

    >>> from wormhole import timing
    >>> timing.reset()
    >>> with timing.phase("training"):
    ...     pass
    >>> sorted(timing.summary())
    ['training']
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

_seconds: dict[str, float] = defaultdict(float)
_calls: dict[str, int] = defaultdict(int)
_stack: list[list] = []   # [name, start, seconds spent in phases nested inside]


@contextmanager
def phase(name: str):
    """Count the wall-clock time of the ``with`` block as phase ``name`` (less any phases nested in it)."""
    _stack.append([name, time.perf_counter(), 0.0])
    try:
        yield
    finally:
        _, start, nested = _stack.pop()
        elapsed = time.perf_counter() - start
        _seconds[name] += elapsed - nested
        _calls[name] += 1
        if _stack:
            _stack[-1][2] += elapsed


def summary() -> dict[str, dict]:
    """``{phase: {"seconds", "calls"}}`` since the last :func:`reset`, the longest first."""
    return {name: {"seconds": round(_seconds[name], 3), "calls": _calls[name]}
            for name in sorted(_seconds, key=_seconds.get, reverse=True)}


def reset() -> None:
    """Forget every recorded phase."""
    _seconds.clear()
    _calls.clear()


__all__ = ["phase", "reset", "summary"]
