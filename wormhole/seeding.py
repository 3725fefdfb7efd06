"""Seeds: one independent stream per purpose of a user's seed."""

from __future__ import annotations

import numpy as np

PURPOSES = {"init": 0, "tasks": 1, "eval": 2, "noise": 3, "validation": 4}


def stream_seed(seed: int, purpose: str) -> int:
    """An independent 63-bit seed for each purpose of a user seed: ``"init"`` (initialisation),
    ``"tasks"`` (training tasks), ``"eval"`` (evaluation tasks), ``"validation"`` (the tasks that
    tuning selects on) or ``"noise"`` (a method's own randomness), so that the training,
    validation and evaluation task streams never coincide, whatever the seeds: each purpose
    enters the seed sequence as its own entry."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(map(repr, PURPOSES))}; got {purpose!r}")
    state = np.random.SeedSequence([int(seed), PURPOSES[purpose]]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))
