"""Meta-SGD (Li et al. 2017): a meta-learned inner learning rate for every parameter entry.

:class:`LearnedRates` is a mixin: ``MetaSGD`` is MAML with it, ``WormholeMetaSGD`` the wormhole.
The rates are meta-parameters named ``rates.<parameter name with '.' → '__'>``, initialised
at ``inner_lr`` and free to change sign, as in the original method.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Params, flat_name
from .maml import MAML
from .wormhole import Wormhole


class LearnedRates:
    """Mixin: replace the model parameters' inner rate by meta-learned per-entry rates."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rates = nn.ParameterDict({flat_name(n): nn.Parameter(torch.full_like(p.detach(), self.inner_lr))
                                       for n, p in self.model.named_parameters()})

    def inner_rates(self, meta: Params) -> dict:
        rates = super().inner_rates(meta)
        for name in self.model_parameters(meta):
            if name in rates:
                rates[name] = meta[f"rates.{flat_name(name)}"]
        return rates

    def reset_method_parameters(self) -> None:
        super().reset_method_parameters()
        with torch.no_grad():
            for p in self.rates.values():
                p.fill_(self.inner_lr)


class MetaSGD(LearnedRates, MAML):
    """MAML with a meta-learned learning rate per parameter entry (initialised at ``inner_lr``).

    Arguments as for :class:`~wormhole.learners.base.MetaLearner`.

    Example:
        >>> learner = MetaSGD(MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)

    References:
        Li, Zhou, Chen & Li (2017), *Meta-SGD: Learning to Learn Quickly for Few-Shot Learning*.
    """


class WormholeMetaSGD(LearnedRates, Wormhole):
    """Wormhole MAML with Meta-SGD's per-entry rates for θ (α_w as in :class:`~wormhole.Wormhole`).

    Example:
        >>> learner = WormholeMetaSGD(MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
    """
