"""TreeMAML (Nieradzik et al. 2021): tasks share inner-loop gradients within learned clusters.

The tree over tasks is unknown, so each inner step clusters the meta-batch hierarchically by
the cosine similarity of the tasks' support gradients (average linkage). Inner step ``j``
cuts the tree into ``branching ** (j + 1)`` clusters, so clusters get finer with depth, and
each task steps with its cluster's mean gradient: tasks that pull in opposite directions
(the flipped and unflipped tasks of a family) stop averaging each other out.

Clustering is a discrete choice outside torch, so the meta-gradient uses plain autograd
(``meta_gradients_autograd``) rather than ``torch.func`` under ``vmap``; the gradients
*within* a cluster's mean still flow to the meta-parameters.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from torch import Tensor
from torch.func import grad, vmap

from .. import _checks
from .base import Params
from .maml import MAML


def cluster_average_matrix(vectors: np.ndarray, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Average-linkage clusters of the rows of ``vectors (T, P)`` by cosine distance, cut into at
    most ``n_clusters``. Returns the labels ``(T,)`` and the matrix ``(T, T)`` that maps each row
    to the mean of its cluster."""
    t = vectors.shape[0]
    if t == 1 or n_clusters >= t:
        labels = np.arange(t)
    else:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = vectors / np.maximum(norms, 1e-12)
        labels = fcluster(linkage(unit, method="average", metric="cosine"), n_clusters, criterion="maxclust") - 1
    same = (labels[:, None] == labels[None, :]).astype(np.float64)
    return labels, same / same.sum(1, keepdims=True)


class TreeMAML(MAML):
    """MAML whose inner step averages gradients within hierarchical clusters of the meta-batch.

    Args:
        branching: clusters multiply by this factor per inner step (2: two clusters at the first
            step, four at the second, ...).
        model, loss, inner_lr, steps, first_order: as for :class:`~wormhole.MAML`.
    """

    def __init__(self, model, loss="mse", inner_lr: float = 0.01, steps: int = 1, first_order: bool = False,
                 branching: int = 2):
        super().__init__(model, loss, inner_lr, steps, first_order)
        self.branching = _checks.count("branching", branching, minimum=2)

    def clusters(self, grads: Params, depth: int) -> tuple[np.ndarray, Tensor]:
        """Cluster labels ``(T,)`` and the cluster-mean matrix ``(T, T)`` for per-task gradients."""
        ref = next(iter(grads.values()))
        if ref.shape[0] == 1:  # one task (e.g. per-task diagnostics): its own cluster
            return np.zeros(1, dtype=int), torch.ones(1, 1, dtype=ref.dtype, device=ref.device)
        flat = torch.cat([g.detach().reshape(g.shape[0], -1) for g in grads.values()], 1).cpu().double().numpy()
        labels, avg = cluster_average_matrix(flat, self.branching ** (depth + 1))
        return labels, torch.as_tensor(avg, dtype=ref.dtype, device=ref.device)

    def batch_step(self, meta: Params, fast: Params, sx: Tensor, sy: Tensor, depth: int) -> Params:
        grads = vmap(grad(self.support_loss, argnums=1), in_dims=(None, 0, 0, 0))(meta, fast, sx, sy)
        _, avg = self.clusters(grads, depth)
        shared = {k: torch.einsum("ts,s...->t...", avg, g) for k, g in grads.items()}
        return vmap(self.step, in_dims=(None, 0, 0))(meta, fast, shared)

    def adapt_tasks(self, meta: Params, sx: Tensor, sy: Tensor, steps: int) -> Params:
        fast = {k: v.expand(sx.shape[0], *v.shape) for k, v in self.initial_fast(meta).items()}
        for depth in range(steps):
            fast = self.batch_step(meta, fast, sx, sy, depth)
        return fast

    def task_losses_loop(self, meta, sx, sy, qx, qy, steps=None):
        """Reference: per-task support gradients from ``torch.autograd.grad`` in a loop, then the
        same cluster averaging."""
        steps = self.steps if steps is None else steps
        t = sx.shape[0]
        with torch.enable_grad():
            fasts = [{k: v if v.requires_grad else v.detach().requires_grad_() for k, v in self.initial_fast(meta).items()}
                     for _ in range(t)]
            for depth in range(steps):
                per_task = []
                for i in range(t):
                    inner = self.support_loss(meta, fasts[i], sx[i], sy[i])
                    per_task.append(dict(zip(fasts[i], torch.autograd.grad(inner, list(fasts[i].values()),
                                                                            create_graph=not self.first_order))))
                grads = {k: torch.stack([g[k] for g in per_task]) for k in per_task[0]}
                _, avg = self.clusters(grads, depth)
                shared = {k: torch.einsum("ts,s...->t...", avg, g) for k, g in grads.items()}
                fasts = [self.step(meta, fasts[i], {k: v[i] for k, v in shared.items()}) for i in range(t)]
            out = [self._query_metrics(meta, fasts[i], qx[i], qy[i]) for i in range(t)]
        return torch.stack([o[0] for o in out]), {"accuracy": torch.stack([o[1] for o in out])}

    def meta_gradients(self, meta, sx, sy, qx, qy, total_tasks, noise_seeds=None):
        return self.meta_gradients_autograd(meta, sx, sy, qx, qy, total_tasks)

    def describe(self) -> dict:
        return {**super().describe(), "branching": self.branching}
