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

from .. import _checks, backprop
from ..functional import forward as model_forward
from .base import MetaLearner, Params

WORMHOLE_KEY = "wormhole"
PLACEMENTS = ("output", "parameters")
GRANULARITIES = ("scalar", "layer", "unit")


def flip_statistics(w0: Tensor, adapted_w: Tensor, sign: Tensor | None) -> dict[str, float]:
    """Sign-change statistics of adapted multipliers ``adapted_w (T, ...)`` relative to ``w0``.

    ``flip_fraction*``: how often the inner loop sends w through 0 (overall, on flipped
    tasks with ``sign`` −1, on the others). ``w_sign_task_agreement``: the absolute value of the mean of sign(w')·sign,
    1 when the sign of the adapted w tells the two sides of the family apart, which is
    the meaningful measure when w₀ itself sits near 0.
    """
    flipped = (torch.sign(adapted_w) != torch.sign(w0)).float().reshape(adapted_w.shape[0], -1).mean(1)
    out = {"w0_mean": float(w0.float().mean()), "adapted_w_mean": float(adapted_w.float().mean()),
           "adapted_w_std": float(adapted_w.float().std()) if adapted_w.numel() > 1 else 0.0,
           "flip_fraction": float(flipped.mean())}
    if sign is not None:
        sign = sign.to(flipped.device)
        # +1 / −1: the sign of the adapted w encodes the task's side perfectly; 0: unrelated
        w_sign = torch.sign(adapted_w.float().reshape(adapted_w.shape[0], -1).mean(1))
        both_sides = bool((sign > 0).any() and (sign < 0).any())
        out["w_sign_task_agreement"] = abs(float((w_sign * sign).mean())) if both_sides else float("nan")
        for name, mask in (("flipped_tasks", sign < 0), ("unflipped_tasks", sign > 0)):
            out[f"flip_fraction_{name}"] = float(flipped[mask].mean()) if mask.any() else float("nan")
    return out


def _number(value: float | Tensor) -> float:
    return float(value.detach()) if isinstance(value, Tensor) else float(value)


class Wormhole(MetaLearner):
    """Wormhole MAML.

    Args:
        model: the network f.
        wormhole_lr: inner rate α_w of the multiplier (>= 0; ``None`` means ``inner_lr``;
            0 freezes the multiplier at w₀ inside the inner loop).
        wormhole_init: initial value of the meta-learned w₀.
        placement: ``"output"`` multiplies the model output, ``"parameters"`` every parameter.
        granularity: ``"scalar"`` (one w), ``"layer"`` (one per layer: the model must accept
            ``layer_scales`` and define ``n_layers``) or ``"unit"`` (one per output unit:
            the model must define ``out_features``). ``"layer"`` and ``"unit"`` need
            ``placement="output"``.
        learn_wormhole_lr: meta-learn α_w (stored as its logarithm, so it stays positive);
            :attr:`effective_wormhole_lr` gives its current value.
        **kwargs: ``loss``, ``inner_lr``, ``steps``, ``first_order`` as for
            :class:`~wormhole.learners.base.MetaLearner`.

    Meta-parameters: the model's, ``wormhole_init`` (shape ``()``, ``(n_layers,)`` or
    ``(out_features,)``) and, if learned, ``log_wormhole_lr``. The adapted multiplier
    sits under the fast-weight key ``"wormhole"``; :meth:`~wormhole.MetaLearner.adapted_quantities`
    reports it as ``adapted_w``, and :meth:`~wormhole.MetaLearner.adapted_statistics` its sign
    flips (:func:`~wormhole.learners.wormhole.flip_statistics`) and the effective α_w
    (``wormhole_lr``).

    Example::

        >>> import torch, wormhole as wh
        >>> learner = wh.Wormhole(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4, wormhole_init=0.1)
        >>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
        >>> history = wh.meta_train(learner, tasks, iterations=5, meta_batch=8, seed=0, progress=False)
        >>> batch = tasks.sample(1, torch.Generator().manual_seed(1))
        >>> fast = learner.adapt(batch.support_x[0], batch.support_y[0])
        >>> fast["wormhole"].shape          # the adapted multiplier w, next to the adapted θ
        torch.Size([])
        >>> learner.predict(fast, batch.query_x[0]).shape
        torch.Size([20, 1])

    References:
        1. Chang, C.-J. T., Gao, Y. & Lou, B. (2022). "Wormhole MAML: Meta-Learning in Glued
           Parameter Space." arXiv preprint. https://arxiv.org/abs/2212.14094
           (this update rule is the project's reconstruction from the abstract).
    """

    sweepable = ("inner_lr", "wormhole_lr", "wormhole_init")

    def __init__(self, model: nn.Module, *, wormhole_lr: float | None = None, wormhole_init: float = 1.0,
                 placement: str = "output", granularity: str = "scalar", learn_wormhole_lr: bool = False,
                 **kwargs):
        super().__init__(model, **kwargs)
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

    @property
    def effective_wormhole_lr(self) -> float:
        """The inner rate α_w that the multiplier steps with now.

        The meta-learned value when ``learn_wormhole_lr=True``, else the fixed ``wormhole_lr``.
        """
        return _number(self._wormhole_rate(self.meta_parameters()))

    def _wormhole_rate(self, meta: Params) -> float | Tensor:
        return meta["log_wormhole_lr"].exp() if self.learn_wormhole_lr else self.hyper(meta, "wormhole_lr")

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
        rate = self.hyper(meta, "inner_lr")
        rates = {k: rate for k in self.model_parameters(meta)}
        rates[WORMHOLE_KEY] = self._wormhole_rate(meta)
        return rates

    def forward_fast(self, meta: Params, fast: Params, x: Tensor) -> Tensor:
        w = fast[WORMHOLE_KEY]
        # parameters the inner loop does not adapt (e.g. ANIL's body) come from the meta-parameters
        theta = {**self.model_parameters(meta), **{k: v for k, v in fast.items() if k != WORMHOLE_KEY}}
        if self.placement == "parameters":
            return model_forward(self.model, {k: w * v for k, v in theta.items()}, x)
        if self.granularity == "layer":
            return model_forward(self.model, theta, x, layer_scales=w)
        return w * model_forward(self.model, theta, x)  # scalar, or per unit along the last dim

    def explicit_forward(self, meta: Params, fast: Params, x: Tensor):
        """The base class's hand-written forward and back-propagation for ``w · f(x; θ)`` (output
        placement, one multiplier or one per unit): d loss/d f is ``w ·`` d loss/d prediction, and
        d loss/d w the sum of d loss/d prediction ``· f``. ``None`` for the other placements and granularities."""
        theta = {k: v for k, v in fast.items() if k != WORMHOLE_KEY}
        layers = self.explicit_backprop_layers(theta)
        if layers is None or self.placement != "output" or self.granularity == "layer":
            return None
        params = {**self.model_parameters(meta), **theta}
        f, cache = backprop.dense_forward(layers, params, x)  # (T, N, out)
        w = fast[WORMHOLE_KEY]
        if w.dim() > meta["wormhole_init"].dim():  # one multiplier (or one row of them) per task
            w = w.reshape(w.shape[0], 1, -1)

        def backward(g: Tensor) -> Params:
            grads = backprop.dense_backward(layers, params, cache, w * g, set(theta))
            grads[WORMHOLE_KEY] = (g * f).sum((-2, -1) if self.granularity == "scalar" else -2)  # (T,) or (T, out)
            return grads

        return w * f, backward

    def adapted_quantities(self, meta: Params, fast: Params) -> dict[str, Tensor]:
        return {"adapted_w": fast[WORMHOLE_KEY]}

    def adapted_statistics(self, meta: Params, quantities: dict[str, Tensor], sign: Tensor | None) -> dict[str, float]:
        return {**flip_statistics(meta["wormhole_init"], quantities["adapted_w"], sign),
                "wormhole_lr": _number(self._wormhole_rate(meta))}

    def describe(self) -> dict:
        return {**super().describe(), "n_multipliers": self.wormhole_init.numel()}
