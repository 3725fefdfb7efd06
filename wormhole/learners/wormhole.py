"""Wormhole MAML: a multiplicative parameter adapted in the inner loop together with θ.

This is the project's reconstruction of arXiv 2212.14094 from its abstract (see
the book's introduction). The prediction is ``w · f(x; θ)`` (``placement="output"``)
or ``f(x; w · θ)`` (``placement="parameters"``); ``w`` starts each task at the
meta-learned ``w₀`` and takes inner steps with its own rate ``α_w``. One short
step of ``w`` through 0 connects ``f`` and ``−f``, which in θ-space lie far
apart: the shortcut, or wormhole.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .. import _checks
from .base import MetaLearner, Params

WORMHOLE_KEY = "wormhole"
PLACEMENTS = ("output", "parameters")
GRANULARITIES = ("scalar", "layer", "unit")


class Wormhole(MetaLearner):
    """Wormhole MAML.

    Args:
        model, loss, inner_lr, steps, first_order: as for :class:`~wormhole.MAML`.
        wormhole_lr: inner rate α_w of the multiplier (>= 0; ``None`` means ``inner_lr``;
            0 freezes the multiplier at w₀ inside the inner loop).
        wormhole_init: initial value of the meta-learned w₀.
        placement: ``"output"`` multiplies the model output, ``"parameters"`` every parameter.
        granularity: ``"scalar"`` (one w), ``"layer"`` (one per layer: the model must accept
            ``layer_scales`` and define ``n_layers``) or ``"unit"`` (one per output unit:
            the model must define ``out_features``). ``"layer"`` and ``"unit"`` need
            ``placement="output"``.
        learn_wormhole_lr: meta-learn α_w (stored as its logarithm, so it stays positive).

    Meta-parameters: the model's, ``wormhole_init`` (shape ``()``, ``(n_layers,)`` or
    ``(out_features,)``) and, if learned, ``log_wormhole_lr``. The adapted multiplier
    sits under the fast-weight key ``"wormhole"``.
    """

    def __init__(self, model: nn.Module, loss="mse", inner_lr: float = 0.01, steps: int = 1,
                 first_order: bool = False, wormhole_lr: float | None = None, wormhole_init: float = 1.0,
                 placement: str = "output", granularity: str = "scalar", learn_wormhole_lr: bool = False):
        super().__init__(model, loss, inner_lr, steps, first_order)
        self.placement = _checks.choice("placement", placement, PLACEMENTS)
        self.granularity = _checks.choice("granularity", granularity, GRANULARITIES)
        if placement == "parameters" and granularity != "scalar":
            raise ValueError("granularity must be 'scalar' when placement='parameters'; "
                             f"got granularity={granularity!r}")
        rate = self.inner_lr if wormhole_lr is None else _checks.positive("wormhole_lr", wormhole_lr,
                                                                         allow_zero=True)
        init = float(wormhole_init)
        if not math.isfinite(init):
            raise ValueError(f"wormhole_init must be a finite number, got {wormhole_init!r}")
        self.wormhole_init = nn.Parameter(torch.full(self._multiplier_shape(), init))
        self.learn_wormhole_lr = bool(learn_wormhole_lr)
        if self.learn_wormhole_lr:
            if rate == 0:
                raise ValueError("wormhole_lr must be > 0 when learn_wormhole_lr=True (it is learned as a log)")
            self.log_wormhole_lr = nn.Parameter(torch.tensor(math.log(rate)))
        self.wormhole_lr = rate
        self._wormhole_init_value = init

    def reset_method_parameters(self) -> None:
        with torch.no_grad():
            self.wormhole_init.fill_(self._wormhole_init_value)
            if self.learn_wormhole_lr:
                self.log_wormhole_lr.fill_(math.log(self.wormhole_lr))

    def _multiplier_shape(self) -> tuple[int, ...]:
        if self.granularity == "scalar":
            return ()
        attr = "n_layers" if self.granularity == "layer" else "out_features"
        n = getattr(self.model, attr, None)
        if not isinstance(n, int):
            raise ValueError(f"granularity={self.granularity!r} needs a model with an integer "
                             f"attribute {attr!r}; {type(self.model).__name__} has none")
        return (n,)

    def initial_fast(self, meta: Params) -> Params:
        return {**self.model_parameters(meta), WORMHOLE_KEY: meta["wormhole_init"]}

    def inner_rates(self, meta: Params) -> dict[str, float | Tensor]:
        rates = {k: self.inner_lr for k in self.model_parameters(meta)}
        rates[WORMHOLE_KEY] = meta["log_wormhole_lr"].exp() if self.learn_wormhole_lr else self.wormhole_lr
        return rates

    def forward_fast(self, meta: Params, fast: Params, x: Tensor) -> Tensor:
        w = fast[WORMHOLE_KEY]
        # parameters the inner loop does not adapt (e.g. ANIL's body) come from the meta-parameters
        theta = {**self.model_parameters(meta), **{k: v for k, v in fast.items() if k != WORMHOLE_KEY}}
        if self.placement == "parameters":
            return functional_call(self.model, {k: w * v for k, v in theta.items()}, (x,))
        if self.granularity == "layer":
            return functional_call(self.model, theta, (x,), {"layer_scales": w})
        return w * functional_call(self.model, theta, (x,))  # scalar, or per unit along the last dim

    def describe(self) -> dict:
        return {**super().describe(), "wormhole_lr": self.wormhole_lr, "placement": self.placement,
                "granularity": self.granularity, "learn_wormhole_lr": self.learn_wormhole_lr,
                "n_multipliers": self.wormhole_init.numel()}
