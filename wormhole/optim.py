"""Functional outer optimisers on stacked meta-parameters.

``meta_train`` stacks the meta-parameters of several seeds (leading dimension S, the
*copies*) and steps them together. An optimiser here is a small object with three methods:

* ``init(meta) -> state``;
* ``step(meta, grads, state) -> (meta, state)``, the same arithmetic for every copy;
* ``rates(meta, state) -> {name: Tensor (S,)}``, learning rates worth recording (``History.rates``).

A learner chooses its optimiser in :meth:`~wormhole.MetaLearner.outer_optimizer`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

Params = dict[str, Tensor]
BETAS = (0.9, 0.999)
EPS = 1e-8


def dot_per_copy(a: Params, b: Params) -> Tensor:
    """Inner product of two stacked parameter dicts, one per copy: shape ``(S,)``."""
    return sum((a[k] * b[k]).reshape(a[k].shape[0], -1).sum(1) for k in a)


def per_copy(rate: Tensor, like: Tensor) -> Tensor:
    """A per-copy rate ``(S,)`` shaped to broadcast against a stacked tensor ``like (S, ...)``."""
    return rate.view(-1, *[1] * (like.dim() - 1))


def adam_init(params: Params) -> dict:
    """Adam's initial state for ``params``: step 0 and zero first and second moments."""
    return {"step": 0, "m": {k: torch.zeros_like(v) for k, v in params.items()},
            "v": {k: torch.zeros_like(v) for k, v in params.items()}}


def _moments(grads: Params, state: dict, betas) -> tuple[dict, dict, int]:
    b1, b2 = betas
    m = {k: state["m"][k].mul(b1).add(g, alpha=1 - b1) for k, g in grads.items()}
    v = {k: state["v"][k].mul(b2).addcmul(g, g, value=1 - b2) for k, g in grads.items()}
    return m, v, state["step"] + 1


def adam_direction(state: dict, betas=BETAS, eps: float = EPS) -> Params:
    """Adam's step direction ``m̂ / (√v̂ + ε)`` from a state (zeros before the first step)."""
    t = state["step"]
    if t == 0:
        return {k: torch.zeros_like(m) for k, m in state["m"].items()}
    b1, b2 = betas
    bc1, bc2_sqrt = 1 - b1**t, math.sqrt(1 - b2**t)
    return {k: (m / bc1) / (state["v"][k].sqrt() / bc2_sqrt).add(eps) for k, m in state["m"].items()}


def adam_step(params: Params, grads: Params, state: dict, lr: float, *, betas=BETAS,
              eps: float = EPS) -> tuple[Params, dict]:
    """One Adam update, the same arithmetic as ``torch.optim.Adam`` (no weight decay)."""
    m, v, t = _moments(grads, state, betas)
    b1, b2 = betas
    bc1, bc2_sqrt = 1 - b1**t, math.sqrt(1 - b2**t)
    new = {k: params[k].addcdiv(m[k], (v[k].sqrt() / bc2_sqrt).add(eps), value=-lr / bc1) for k in params}
    return new, {"step": t, "m": m, "v": v}


class Adam:
    """Adam with a fixed learning rate ``lr`` (the default outer optimiser)."""

    def __init__(self, lr: float):
        self.lr = lr

    def init(self, meta: Params) -> dict:
        """The optimiser state for the stacked meta-parameters ``meta``."""
        return adam_init(meta)

    def step(self, meta: Params, grads: Params, state: dict) -> tuple[Params, dict]:
        """One update: the new meta-parameters and the new state."""
        return adam_step(meta, grads, state, self.lr)

    def rates(self, meta: Params, state: dict) -> dict:
        """Nothing to record: the rate is fixed."""
        return {}


class AdamHD:
    """Adam whose learning rate follows hypergradient descent (Adam-HD; Baydin et al. 2018,
    *Online Learning Rate Adaptation with Hypergradient Descent*), one rate per copy.

    Before each step the rate moves along the hypergradient, the inner product of the new
    gradient with the previous Adam direction ``d = m̂ / (√v̂ + ε)``:
    ``η_t = η_{t−1} + hyper_lr · g_t · d_{t−1}``, clamped at 0, then Adam steps with ``η_t``.
    It grows while successive steps agree and shrinks when they overshoot. ``hyper_lr = 0`` is
    Adam; the paper uses ``hyper_lr = 1e-7``.
    """

    def __init__(self, lr: float, hyper_lr: float = 1e-7):
        self.lr, self.hyper_lr = lr, hyper_lr

    def init(self, meta: Params) -> dict:
        """Adam's state and one rate η per copy (leading dimension S), starting at ``lr``."""
        ref = next(iter(meta.values()))
        return {"adam": adam_init(meta), "lr": torch.full((ref.shape[0],), self.lr, dtype=ref.dtype, device=ref.device)}

    def step(self, meta: Params, grads: Params, state: dict) -> tuple[Params, dict]:
        """A hypergradient step on each copy's η, then Adam's step with it."""
        h = dot_per_copy(grads, adam_direction(state["adam"]))
        lr = (state["lr"] + self.hyper_lr * h).clamp_min(0)
        m, v, t = _moments(grads, state["adam"], BETAS)
        adam = {"step": t, "m": m, "v": v}
        direction = adam_direction(adam)
        new = {k: meta[k] - per_copy(lr, meta[k]) * direction[k] for k in meta}
        return new, {"adam": adam, "lr": lr}

    def rates(self, meta: Params, state: dict) -> dict:
        """The current η of each copy, recorded by ``meta_train`` in ``History.rates``."""
        return {"meta_lr": state["lr"]}
