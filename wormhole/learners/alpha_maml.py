"""Alpha MAML (Behl, Baydin & Torr 2019): inner and outer rates adapted online by hypergradient descent.

The inner rate α is a meta-parameter. The derivative of the meta-loss with respect to it is
the hypergradient ``−mean_i ∇L_i^q(θ_i') · ∇L_i^s(θ)`` (for one step), which autograd
delivers; α takes a plain gradient step of size ``inner_hyper_lr`` on it, so it grows
when the query gradient after adaptation still points along the support gradient. The
outer step is Adam whose rate η follows hypergradient descent (Adam-HD,
:class:`wormhole.optim.AdamHD`), so ``meta_lr`` is Adam's initial rate, as for every other
learner. ``meta_train`` records both rates per iteration in ``History.rates``
(``"inner_lr"`` and ``"meta_lr"``).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks
from ..optim import AdamHD
from .base import Params
from .maml import MAML

ALPHA_KEY = "log_inner_lr"


class AlphaMAML(MAML):
    """MAML with hypergradient-adapted inner (α) and outer (η) learning rates.

    Args:
        model: the network.
        inner_hyper_lr: the hypergradient step size for α (``inner_lr`` is the initial α).
        outer_hyper_lr: the hypergradient step size for Adam's rate η (``meta_lr`` of
            ``meta_train`` is the initial η); Baydin et al. use 1e-7 for Adam-HD.
        **kwargs: as for :class:`~wormhole.learners.base.MetaLearner`.

    α is stored as its logarithm (``log_inner_lr``) so that it stays positive; the
    hypergradient step is taken on α itself.

    Example::

        >>> import wormhole as wh
        >>> learner = wh.AlphaMAML(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
        >>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
        >>> history = wh.meta_train(learner, tasks, iterations=5, meta_batch=8, seed=0, progress=False)
        >>> sorted(history.rates), len(history.rates["inner_lr"])   # α and η, once per iteration
        (['inner_lr', 'meta_lr'], 5)

    References:
        1. Behl, H. S., Baydin, A. G. & Torr, P. H. S. (2019). "Alpha MAML: Adaptive
           Model-Agnostic Meta-Learning." arXiv preprint. https://arxiv.org/abs/1905.07435
        2. Baydin, A. G., Cornish, R., Martínez Rubio, D., Schmidt, M. & Wood, F. (2018).
           "Online Learning Rate Adaptation with Hypergradient Descent." ICLR.
           https://arxiv.org/abs/1703.04782
    """

    def __init__(self, model: nn.Module, *, inner_hyper_lr: float = 1e-3, outer_hyper_lr: float = 1e-7, **kwargs):
        super().__init__(model, **kwargs)
        self.inner_hyper_lr = _checks.positive("inner_hyper_lr", inner_hyper_lr)
        self.outer_hyper_lr = _checks.positive("outer_hyper_lr", outer_hyper_lr, allow_zero=True)
        self.log_inner_lr = nn.Parameter(torch.tensor(self.inner_lr).log())

    def reset_method_parameters(self) -> None:
        with torch.no_grad():
            self.log_inner_lr.fill_(torch.tensor(self.inner_lr).log())

    def inner_rates(self, meta: Params) -> dict:
        alpha = meta[ALPHA_KEY].exp()
        return {k: alpha for k in self.initial_fast(meta)}

    def outer_optimizer(self, meta_lr: float):
        return AlphaMAMLOptimizer(meta_lr, self.outer_hyper_lr, self.inner_hyper_lr)


class AlphaMAMLOptimizer:
    """Adam-HD on θ; a plain hypergradient step on α (``log_inner_lr``), vectorised over copies."""

    def __init__(self, lr: float, outer_hyper_lr: float, inner_hyper_lr: float):
        self.outer = AdamHD(lr, outer_hyper_lr)
        self.inner_hyper_lr = inner_hyper_lr

    @staticmethod
    def _theta(params: Params) -> Params:
        return {k: v for k, v in params.items() if k != ALPHA_KEY}

    def init(self, meta: Params) -> dict:
        """Adam-HD's state for θ (α needs none)."""
        return self.outer.init(self._theta(meta))

    def step(self, meta: Params, grads: Params, state: dict) -> tuple[Params, dict]:
        """Adam-HD's step on θ and a hypergradient step of size ``inner_hyper_lr`` on α."""
        new, state = self.outer.step(self._theta(meta), self._theta(grads), state)
        alpha = meta[ALPHA_KEY].exp()
        # d meta-loss / d alpha = d/d log α · (1/α): a hypergradient step on α itself
        alpha = (alpha - self.inner_hyper_lr * grads[ALPHA_KEY] / alpha).clamp_min(1e-6)
        return {**new, ALPHA_KEY: alpha.log()}, state

    def rates(self, meta: Params, state: dict) -> dict:
        """The current η (``meta_lr``) and α (``inner_lr``) of each copy, for ``History.rates``."""
        return {**self.outer.rates(meta, state), "inner_lr": meta[ALPHA_KEY].exp()}
