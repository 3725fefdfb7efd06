"""ES-MAML (Song et al. 2020): a Hessian-free meta-gradient from evolution strategies.

The meta-gradient of the post-adaptation query loss ``L(θ)`` is estimated with antithetic
Gaussian perturbations,

    ∇L(θ) ≈ 1/(2σn) Σ_j [L(θ + σε_j) − L(θ − σε_j)] ε_j,   ε_j ~ N(0, I),

so no second (or even first) derivative of the outer objective is taken. The inner loop is
MAML's gradient step (``inner="gradient"``), or a zero-order step (``inner="es"``) whose
support gradient is itself a finite-difference estimate along ``inner_samples`` fixed random
directions (drawn once from ``inner_seed``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import vmap

from .. import _checks
from .base import Params
from .maml import MAML


class ESMAML(MAML):
    """MAML with an evolution-strategies meta-gradient.

    Args:
        model: the network.
        n_samples: antithetic pairs per meta-gradient estimate (>= 2).
        sigma: perturbation scale (> 0).
        inner: ``"gradient"`` (MAML's inner step) or ``"es"`` (zero-order inner step).
        inner_samples: directions of the zero-order inner step (>= 2).
        inner_seed: seed of those directions.
        **kwargs: ``loss``, ``inner_lr``, ``steps`` as for :class:`~wormhole.learners.base.MetaLearner`;
            the meta-gradient is first-order by construction.

    Example::

        >>> import wormhole as wh
        >>> learner = wh.ESMAML(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4, n_samples=16)
        >>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
        >>> history = wh.meta_train(learner, tasks, iterations=3, meta_batch=8, seed=0, progress=False)
        >>> len(history.meta_loss), learner.first_order   # first-order by construction
        (3, True)

    References:
        1. Song, X., Gao, W., Yang, Y., Choromanski, K., Pacchiano, A. & Tang, Y. (2020).
           "ES-MAML: Simple Hessian-Free Meta Learning." ICLR. https://arxiv.org/abs/1910.01215
    """

    #: its estimator perturbs every entry of the meta-parameters, so a sweep's configurations must be equal
    sweepable = ()

    def __init__(self, model: nn.Module, *, n_samples: int = 32, sigma: float = 0.01, inner: str = "gradient",
                 inner_samples: int = 16, inner_seed: int = 0, **kwargs):
        super().__init__(model, first_order=True, **kwargs)
        self.n_samples = _checks.count("n_samples", n_samples, minimum=2)
        self.sigma = _checks.positive("sigma", sigma)
        self.inner = _checks.choice("inner", inner, ("gradient", "es"))
        self.inner_samples = _checks.count("inner_samples", inner_samples, minimum=2)
        gen = torch.Generator().manual_seed(inner_seed)
        self._directions = {k: torch.randn(self.inner_samples, *p.shape, generator=gen)
                            for k, p in model.named_parameters()}

    def support_gradient(self, meta: Params, fast: Params, x: Tensor, y: Tensor) -> Params:
        if self.inner == "gradient":
            return super().support_gradient(meta, fast, x, y)
        return self.zero_order_gradient(meta, fast, x, y)

    def zero_order_gradient(self, meta: Params, fast: Params, x: Tensor, y: Tensor) -> Params:
        """Antithetic finite differences of the support loss along the fixed random directions."""
        dirs = {k: self._directions[k].to(v.device, v.dtype) for k, v in fast.items()}
        s = self.sigma

        def loss_along(d):
            plus = self.support_loss(meta, {k: v + s * d[k] for k, v in fast.items()}, x, y)
            minus = self.support_loss(meta, {k: v - s * d[k] for k, v in fast.items()}, x, y)
            return (plus - minus) / (2 * s)

        diffs = vmap(loss_along)(dirs)  # (n,)
        return {k: torch.einsum("n,n...->...", diffs, d) / self.inner_samples for k, d in dirs.items()}

    def es_gradient(self, meta: Params, sx, sy, qx, qy, *, total_tasks: int, generator: torch.Generator) -> Params:
        """The ES estimate of the meta-gradient for one copy of the meta-parameters."""
        eps = {k: torch.randn(self.n_samples, *v.shape, generator=generator).to(v.device, v.dtype)
               for k, v in meta.items()}
        s = self.sigma

        def loss_at(m):
            return self.task_losses(m, sx, sy, qx, qy)[0].sum() / total_tasks

        def antithetic(e):
            return (loss_at({k: v + s * e[k] for k, v in meta.items()})
                    - loss_at({k: v - s * e[k] for k, v in meta.items()})) / (2 * s)

        with torch.no_grad():
            diffs = torch.stack([antithetic({k: v[j] for k, v in eps.items()}) for j in range(self.n_samples)])
        return {k: torch.einsum("n,n...->...", diffs, e) / self.n_samples for k, e in eps.items()}

    def meta_gradients(self, meta, sx, sy, qx, qy, *, total_tasks, noise_seeds=None):
        seeds = noise_seeds or [0] * sx.shape[0]

        def gradient(i, m, *tensors):
            g = self.es_gradient(m, *tensors, total_tasks=total_tasks,
                                 generator=torch.Generator().manual_seed(int(seeds[i])))
            with torch.no_grad():
                return g, self.objective(m, *tensors, total_tasks=total_tasks)[1]

        return self.meta_gradients_per_copy(meta, sx, sy, qx, qy, gradient=gradient)
