"""Meta-SGD (Li et al. 2017): a meta-learned inner learning rate for every parameter entry.

:class:`LearnedRates` is a mixin: ``MetaSGD`` is MAML with it, ``WormholeMetaSGD`` the wormhole.
The rates are meta-parameters named ``rates.<parameter name with '.' → '__'>``, initialised
at ``inner_lr`` and free to change sign, as in the original method.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Params
from .trees import flat_name
from .. import _checks
from .maml import MAML
from .wormhole import Wormhole


class LearnedRates:
    """Mixin: replace the model parameters' inner rate by meta-learned per-entry rates."""

    def __init__(self, *args, rate_init=None, **kwargs):
        super().__init__(*args, **kwargs)
        # ``None``: every rate starts at ``inner_lr``; a range: each rate starts uniform on it
        # (Li et al. draw theirs from [0.005, 0.1]), drawn from the seed that initialises the model
        self.rate_init = None if rate_init is None else _checks.interval("rate_init", rate_init)
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

    def reset_parameters(self, seed: int) -> None:
        super().reset_parameters(seed)
        if self.rate_init is not None:
            low, high = self.rate_init
            generator = torch.Generator().manual_seed((int(seed) ^ RATE_STREAM) % 2 ** 63)
            with torch.no_grad():
                for p in self.rates.values():
                    p.copy_(torch.rand(p.shape, generator=generator, dtype=p.dtype) * (high - low) + low)


#: mixed into the initialisation seed for the random start of the rates, so that their draws differ
#: from the model's
RATE_STREAM = 0x5EED_0F_4A7E5


class MetaSGD(LearnedRates, MAML):
    """MAML with a meta-learned learning rate per parameter entry (initialised at ``inner_lr``).

    Arguments as for :class:`~wormhole.MAML`, and ``rate_init``: ``None`` (every rate starts at
    ``inner_lr``) or a range ``(low, high)``: each rate starts uniform on it, drawn from the seed
    that initialises the model (Li et al. 2017 draw from ``(0.005, 0.1)``). The rates are
    meta-parameters under ``rates.<parameter name with '.' → '__'>``, one entry per entry of the
    parameter.

    Example::

        >>> import torch, wormhole as wh
        >>> learner = wh.MetaSGD(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
        >>> learner.rates["layers__0__weight"].shape          # one rate per entry of layers.0.weight
        torch.Size([40, 1])
        >>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
        >>> history = wh.meta_train(learner, tasks, iterations=5, meta_batch=8, seed=0, progress=False)
        >>> bool((learner.rates["layers__0__weight"] != 0.4).any())   # the rates were meta-learned
        True

    References:
        1. Li, Z., Zhou, F., Chen, F. & Li, H. (2017). "Meta-SGD: Learning to Learn Quickly for
           Few-Shot Learning." arXiv preprint. https://arxiv.org/abs/1707.09835
    """


class WormholeMetaSGD(LearnedRates, Wormhole):
    """Wormhole MAML with Meta-SGD's per-entry rates for θ (α_w as in :class:`~wormhole.Wormhole`).

    Arguments as for :class:`~wormhole.Wormhole`.

    Example::

        >>> import torch, wormhole as wh
        >>> learner = wh.WormholeMetaSGD(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
        >>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
        >>> history = wh.meta_train(learner, tasks, iterations=5, meta_batch=8, seed=0, progress=False)
        >>> rates = learner.inner_rates(learner.meta_parameters())
        >>> rates["layers.0.weight"].shape, learner.effective_wormhole_lr   # learned per entry; α_w fixed
        (torch.Size([40, 1]), 0.4)

    References:
        1. Chang, C.-J. T., Gao, Y. & Lou, B. (2022). "Wormhole MAML: Meta-Learning in Glued
           Parameter Space." arXiv preprint. https://arxiv.org/abs/2212.14094
        2. Li, Z., Zhou, F., Chen, F. & Li, H. (2017). "Meta-SGD: Learning to Learn Quickly for
           Few-Shot Learning." arXiv preprint. https://arxiv.org/abs/1707.09835
    """
