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


#: how many disjoint seed sets every comparison is judged on (the results page's replication)
N_SEED_SETS = 2


def seed_sets(seeds) -> tuple[list[int], list[int]]:
    """The two disjoint replication sets of a comparison's ``seeds``: the first half and the
    second half, in order (the first one seed larger for an odd count).

    A comparison trained on ``FRESH + MORE`` seeds (two lists of equal length) is therefore
    judged on ``FRESH`` and on ``MORE`` separately. Raises ``ValueError`` for fewer than 2 seeds."""
    seeds = [int(s) for s in seeds]
    if len(seeds) < N_SEED_SETS:
        raise ValueError(f"seeds must hold at least {N_SEED_SETS} seeds to form {N_SEED_SETS} sets; got {seeds!r}")
    half = (len(seeds) + 1) // 2
    return seeds[:half], seeds[half:]
