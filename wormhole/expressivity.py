"""Does an extra adapted quantity add function-space directions? A measure that can say no.

The inner loop moves the model's function along the columns of the Jacobian of its outputs
with respect to the fast weights. MAML has the columns of ``J_θ``; a method that also adapts
extra quantities (Wormhole's multipliers w) adds the columns ``J_w``. The number of *new*
directions is

.. math:: \\operatorname{rank}[J_θ, J_w] - \\operatorname{rank} J_θ ,

computed on a set of inputs, in float64, with singular values counted above
``rtol · σ_max``. First-order analysis predicts **zero** wherever w ≠ 0 and w multiplies
the output of a linear map (the output, or a linear layer's pre-activation): the map is
homogeneous in its parameters, so ``∂(w·g)/∂w = g = (1/w)·Σ_θ θ ∂g/∂θ`` (Euler) lies in the
span of ``J_θ``. At the seam w = 0 the θ-columns through w vanish and w's own column is new.

The measure can only see a direction when ``rank J_θ`` leaves room below the number of
rows (outputs × inputs); :attr:`Directions.saturated` says when it does not, and then the
answer 0 means nothing.

The one-step kernel compares how far one inner step moves the function: MAML's
``K = α J_θ J_θᵀ`` against Wormhole's ``K_w = α J_θ J_θᵀ + α_w J_w J_wᵀ``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import jacrev

from .learners.base import MetaLearner, Params


@dataclass(frozen=True)
class Directions:
    """``added = rank_joint − rank_theta`` new function-space directions from ``n_extra`` extra
    adapted scalars, on ``rows`` outputs; ``saturated`` when ``rank_theta + n_extra > rows``
    (the measure could not have seen them all)."""

    rank_theta: int
    rank_joint: int
    n_extra: int
    rows: int
    rtol: float

    @property
    def added(self) -> int:
        """The number of directions the extra quantities add, ``rank_joint − rank_theta``."""
        return self.rank_joint - self.rank_theta

    @property
    def saturated(self) -> bool:
        """True when θ's rank plus the extra quantities exceed the number of rows, so nothing more can be added."""
        return self.rank_theta + self.n_extra > self.rows


def _float64(learner: MetaLearner, fast: Params | None) -> tuple[MetaLearner, Params, Params]:
    twin = copy.deepcopy(learner).double()
    meta = {k: v.detach() for k, v in twin.meta_parameters().items()}
    start = twin.initial_fast(meta) if fast is None else fast
    return twin, meta, {k: v.detach().double() for k, v in start.items()}


def jacobians(learner: MetaLearner, x: Tensor, fast: Params | None = None) -> tuple[Tensor, Tensor]:
    """``(J_θ (R, P), J_extra (R, k))``: Jacobians of the outputs on ``x (N, ...)`` (``R`` = N ×
    outputs) with respect to the model's fast weights and to the other fast weights (the extra
    quantities a method adapts; none for MAML). ``fast`` defaults to the meta-learned start."""
    twin, meta, fast = _float64(learner, fast)
    model_keys = set(twin.model_parameters(meta))
    x = x.double()

    def outputs(f):
        return twin.forward_fast(meta, f, x).reshape(-1)

    jac = jacrev(outputs)(fast)
    rows = next(iter(jac.values())).shape[0]

    def stack(keys):
        cols = [jac[k].reshape(rows, -1) for k in sorted(keys)]
        return torch.cat(cols, 1) if cols else x.new_zeros(rows, 0)

    return stack(model_keys & fast.keys()), stack(fast.keys() - model_keys)


def numerical_rank(matrix: Tensor, rtol: float) -> int:
    """Singular values above ``rtol · σ_max`` (0 for an empty or zero matrix)."""
    if matrix.numel() == 0:
        return 0
    s = torch.linalg.svdvals(matrix)
    return int((s > rtol * s.max()).sum()) if s.max() > 0 else 0


def added_directions(learner: MetaLearner, x: Tensor, fast: Params | None = None, rtol: float = 1e-8) -> Directions:
    """How many function-space directions the extra adapted quantities add beyond θ, on ``x``.

    Example::

        >>> import torch, wormhole as wh
        >>> learner = wh.Wormhole(wh.models.MLP(1, (8,), 1), loss="mse")
        >>> wh.expressivity.added_directions(learner, torch.linspace(-2, 2, 200)[:, None]).added
        0
    """
    j_theta, j_extra = jacobians(learner, x, fast)
    return Directions(numerical_rank(j_theta, rtol), numerical_rank(torch.cat([j_theta, j_extra], 1), rtol),
                      j_extra.shape[1], j_theta.shape[0], rtol)


@dataclass(frozen=True)
class Kernels:
    """One-step function-space kernels on ``x``: MAML's ``maml = α J_θJ_θᵀ`` and the method's
    ``method = maml + α_w J_wJ_wᵀ``. ``extra_share``: the added term's share of the method's
    kernel (trace); ``outside``: the fraction of the added term's trace outside the range of
    ``maml`` (0 when the extra quantities add no direction)."""

    maml: Tensor
    method: Tensor
    extra_share: float
    outside: float


def one_step_kernels(learner: MetaLearner, x: Tensor, fast: Params | None = None, rtol: float = 1e-8) -> Kernels:
    """Compare the method's one-step kernel with MAML's at the same point (same α)."""
    twin, meta, start = _float64(learner, fast)
    rates = twin.inner_rates(meta)
    model_keys = set(twin.model_parameters(meta))
    j_theta, j_extra = jacobians(learner, x, fast)
    alpha = float(next(torch.as_tensor(rates[k]).double().mean() for k in sorted(model_keys & start.keys())))
    extra_keys = sorted(start.keys() - model_keys)
    scale = torch.cat([torch.as_tensor(rates[k]).double().detach().expand(start[k].shape).reshape(-1)
                       for k in extra_keys]) if extra_keys else j_extra.new_zeros(0)
    k_maml = alpha * j_theta @ j_theta.T
    k_extra = (j_extra * scale) @ j_extra.T
    k_method = k_maml + k_extra
    u, s, _ = torch.linalg.svd(k_maml)
    basis = u[:, s > rtol * s.max()] if s.max() > 0 else u[:, :0]
    inside = basis.T @ k_extra @ basis
    total = float(torch.trace(k_extra))
    outside = 0.0 if total == 0 else max(0.0, 1 - float(torch.trace(inside)) / total)
    share = 0.0 if float(torch.trace(k_method)) == 0 else total / float(torch.trace(k_method))
    return Kernels(k_maml, k_method, share, outside)
