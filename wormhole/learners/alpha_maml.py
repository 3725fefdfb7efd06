"""Alpha MAML (Behl, Baydin & Torr 2019): inner and outer rates adapted online by hypergradient descent.

The inner rate α is a meta-parameter. The derivative of the meta-loss with respect to it is
the hypergradient ``−mean_i ∇L_i^q(θ_i') · ∇L_i^s(θ)`` (for one step), which autograd
delivers; α takes a plain gradient step of size ``inner_hyper_lr`` on it, so it grows
when the query gradient after adaptation still points along the support gradient. The
outer step is SGD whose rate η follows hypergradient descent on the previous update:
``η_t = η_{t−1} + outer_hyper_lr · (g_t · g_{t−1})``. ``meta_train`` records both rates
per iteration in ``History.rates``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _checks
from .base import Params
from .maml import MAML

ALPHA_KEY = "log_inner_lr"


class AlphaMAML(MAML):
    """MAML with hypergradient-adapted inner (α) and outer (η) learning rates.

    Args:
        inner_lr: the initial α. outer rate: ``meta_lr`` of ``meta_train`` is the initial η.
        inner_hyper_lr, outer_hyper_lr: the hypergradient step sizes for α and η.
        model, loss, steps, first_order: as for :class:`~wormhole.MAML`.

    α is stored as its logarithm (``log_inner_lr``) so that it stays positive; the
    hypergradient step is taken on α itself.
    """

    def __init__(self, model, loss="mse", inner_lr: float = 0.01, steps: int = 1, first_order: bool = False,
                 inner_hyper_lr: float = 1e-3, outer_hyper_lr: float = 1e-4):
        super().__init__(model, loss, inner_lr, steps, first_order)
        self.inner_hyper_lr = _checks.positive("inner_hyper_lr", inner_hyper_lr)
        self.outer_hyper_lr = _checks.positive("outer_hyper_lr", outer_hyper_lr)
        self.log_inner_lr = nn.Parameter(torch.tensor(float(inner_lr)).log())

    def reset_method_parameters(self) -> None:
        with torch.no_grad():
            self.log_inner_lr.fill_(torch.tensor(self.inner_lr).log())

    def inner_rates(self, meta: Params) -> dict:
        alpha = meta[ALPHA_KEY].exp()
        return {k: alpha for k in self.initial_fast(meta)}

    def outer_optimizer(self, meta_lr: float):
        return HypergradientSGD(meta_lr, self.outer_hyper_lr, self.inner_hyper_lr)

    def describe(self) -> dict:
        return {**super().describe(), "inner_hyper_lr": self.inner_hyper_lr, "outer_hyper_lr": self.outer_hyper_lr}


def _dot(a: Params, b: Params) -> Tensor:
    """Per-copy inner product of two stacked parameter dicts: shape ``(S,)``."""
    return sum((a[k] * b[k]).reshape(a[k].shape[0], -1).sum(1) for k in a)


class HypergradientSGD:
    """SGD whose rate follows hypergradient descent (Baydin et al. 2018), vectorised over copies.

    θ moves by ``−η g``; α (``log_inner_lr``) moves by a plain hypergradient step on α; η is
    updated before each step from the inner product of this and the previous gradient of θ.
    """

    def __init__(self, lr: float, outer_hyper_lr: float, inner_hyper_lr: float):
        self.lr, self.beta, self.beta_inner = lr, outer_hyper_lr, inner_hyper_lr

    def init(self, meta: Params) -> dict:
        copies = next(iter(meta.values())).shape[0]
        ref = next(iter(meta.values()))
        return {"lr": torch.full((copies,), self.lr, dtype=ref.dtype, device=ref.device),
                "prev": {k: torch.zeros_like(v) for k, v in meta.items() if k != ALPHA_KEY}}

    def step(self, meta: Params, grads: Params, state: dict) -> tuple[Params, dict]:
        g = {k: v for k, v in grads.items() if k != ALPHA_KEY}
        lr = state["lr"] + self.beta * _dot(g, state["prev"])
        new = {k: meta[k] - lr.view(-1, *[1] * (meta[k].dim() - 1)) * g[k] for k in g}
        alpha = meta[ALPHA_KEY].exp()
        # d meta-loss / d alpha = d/d log α · (1/α): a hypergradient step on α itself
        alpha = (alpha - self.beta_inner * grads[ALPHA_KEY] / alpha).clamp_min(1e-6)
        new[ALPHA_KEY] = alpha.log()
        return new, {"lr": lr, "prev": g}

    def rates(self, meta: Params, state: dict) -> dict:
        return {"meta_lr": state["lr"], "inner_lr": meta[ALPHA_KEY].exp()}
