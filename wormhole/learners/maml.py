"""MAML (Finn, Abbeel & Levine 2017): adapt every parameter with a few gradient steps."""

from __future__ import annotations

from .base import MetaLearner


class MAML(MetaLearner):
    """Model-agnostic meta-learning.

    The inner loop is ``θ_i^{j+1} = θ_i^j − α ∇ L_i^support(θ_i^j)`` from ``θ_i^0 = θ``;
    the meta-objective is the mean query loss after ``steps`` such steps. Arguments as for
    :class:`~wormhole.learners.base.MetaLearner`.

    Example:
        >>> learner = MAML(MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4, steps=1)

    References:
        Finn, Abbeel & Levine (2017), *Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks*.
    """
