"""ES-MAML (Song et al. 2020): a Hessian-free meta-gradient from evolution strategies.

The meta-gradient of the post-adaptation query loss ``L(θ)`` is estimated with antithetic
Gaussian perturbations,

    ∇L(θ) ≈ 1/(2σn) Σ_j [L(θ + σε_j) − L(θ − σε_j)] ε_j,   ε_j ~ N(0, I),

so no second (or even first) derivative of the outer objective is taken. The inner loop is
MAML's gradient step (``inner="gradient"``), or a zero-order step (``inner="es"``) whose
support gradient is itself a finite-difference estimate along ``inner_samples`` fixed random
directions.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.func import vmap

from .. import _checks
from .base import Params
from .maml import MAML


class ESMAML(MAML):
    """MAML with an evolution-strategies meta-gradient.

    Args:
        n_samples: antithetic pairs per meta-gradient estimate (>= 2).
        sigma: perturbation scale (> 0).
        inner: ``"gradient"`` (MAML's inner step) or ``"es"`` (zero-order inner step).
        inner_samples: directions of the zero-order inner step.
        model, loss, inner_lr, steps: as for :class:`~wormhole.MAML`.
    """

    def __init__(self, model, loss="mse", inner_lr: float = 0.01, steps: int = 1, n_samples: int = 32,
                 sigma: float = 0.01, inner: str = "gradient", inner_samples: int = 16, inner_seed: int = 0):
        super().__init__(model, loss, inner_lr, steps, first_order=True)
        self.n_samples = _checks.count("n_samples", n_samples, minimum=2)
        self.sigma = _checks.positive("sigma", sigma)
        self.inner = _checks.choice("inner", inner, ("gradient", "es"))
        self.inner_samples = _checks.count("inner_samples", inner_samples, minimum=2)
        gen = torch.Generator().manual_seed(inner_seed)
        self._directions = {k: torch.randn(self.inner_samples, *p.shape, generator=gen)
                            for k, p in model.named_parameters()}

    def adapt_task(self, meta: Params, x: Tensor, y: Tensor, steps: int) -> Params:
        if self.inner == "gradient":
            return super().adapt_task(meta, x, y, steps)
        fast = self.initial_fast(meta)
        for _ in range(steps):
            fast = self.step(meta, fast, self.zero_order_gradient(meta, fast, x, y))
        return fast

    def batch_step(self, meta, fast, sx, sy, depth):
        if self.inner == "gradient":
            return super().batch_step(meta, fast, sx, sy, depth)
        return vmap(lambda f, x, y: self.step(meta, f, self.zero_order_gradient(meta, f, x, y)))(fast, sx, sy)

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

    def es_gradient(self, meta: Params, sx, sy, qx, qy, total_tasks: int, generator: torch.Generator) -> Params:
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

    def meta_gradients(self, meta, sx, sy, qx, qy, total_tasks, noise_seeds=None):
        seeds = noise_seeds or [0] * sx.shape[0]
        grads, aux = [], []
        for i in range(sx.shape[0]):
            m = {k: v[i].detach() for k, v in meta.items()}
            gen = torch.Generator().manual_seed(int(seeds[i]))
            grads.append(self.es_gradient(m, sx[i], sy[i], qx[i], qy[i], total_tasks, gen))
            with torch.no_grad():
                aux.append(self.objective(m, sx[i], sy[i], qx[i], qy[i], total_tasks)[1])
        return ({k: torch.stack([g[k] for g in grads]) for k in meta},
                tuple(torch.stack([a[j] for a in aux]) for j in range(3)))

    def describe(self) -> dict:
        return {**super().describe(), "n_samples": self.n_samples, "sigma": self.sigma, "inner": self.inner}
