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
from torch import Tensor, nn

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
        from scipy.cluster.hierarchy import fcluster, linkage   # scipy loads on first use

        labels = fcluster(linkage(unit, method="average", metric="cosine"), n_clusters, criterion="maxclust") - 1
    same = (labels[:, None] == labels[None, :]).astype(np.float64)
    return labels, same / same.sum(1, keepdims=True)


class TreeMAML(MAML):
    """MAML whose inner step averages gradients within hierarchical clusters of the meta-batch.

    Args:
        model: the network.
        branching: clusters multiply by this factor per inner step (2: two clusters at the first
            step, four at the second, ...).
        **kwargs: as for :class:`~wormhole.learners.base.MetaLearner`.

    Example::

        >>> import torch, wormhole as wh
        >>> learner = wh.TreeMAML(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4, steps=2)
        >>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
        >>> history = wh.meta_train(learner, tasks, iterations=3, meta_batch=8, seed=0, progress=False)
        >>> batch = tasks.sample(8, torch.Generator().manual_seed(1))
        >>> grads = {"g": batch.sign[:, None].float()}      # toy "gradients": the tasks' sides
        >>> labels, _ = learner.clusters(grads, depth=0)
        >>> side = batch.sign.numpy()
        >>> len(set(labels[side > 0])), len(set(labels[side < 0]))   # one cluster per side
        (1, 1)

    References:
        1. Garcia, J. R., Freddi, F., Liao, F.-T., McGowan, J., Nieradzik, T., Shiu, D.-s., Tian, Y.
           & Bernacchia, A. (2021). "Meta-Learning with MAML on Trees." arXiv preprint.
           https://arxiv.org/abs/2103.04691
    """

    def __init__(self, model: nn.Module, *, branching: int = 2, **kwargs):
        super().__init__(model, **kwargs)
        self.branching = _checks.count("branching", branching, minimum=2)

    def clusters(self, grads: Params, depth: int) -> tuple[np.ndarray, Tensor]:
        """Cluster labels ``(T,)`` and the cluster-mean matrix ``(T, T)`` for per-task gradients."""
        ref = next(iter(grads.values()))
        if ref.shape[0] == 1:  # one task (e.g. per-task diagnostics): its own cluster
            return np.zeros(1, dtype=int), torch.ones(1, 1, dtype=ref.dtype, device=ref.device)
        flat = torch.cat([g.detach().reshape(g.shape[0], -1) for g in grads.values()], 1).cpu().double().numpy()
        labels, avg = cluster_average_matrix(flat, self.branching ** (depth + 1))
        return labels, torch.as_tensor(avg, dtype=ref.dtype, device=ref.device)

    def share_gradients(self, grads: Params, depth: int) -> Params:
        """Each task's gradient becomes its cluster's mean."""
        if next(iter(grads.values())).shape[0] == 1:
            return grads
        _, avg = self.clusters(grads, depth)
        return {k: torch.einsum("ts,s...->t...", avg, g) for k, g in grads.items()}

    def meta_gradients(self, meta, sx, sy, qx, qy, *, total_tasks, noise_seeds=None):
        return self.meta_gradients_autograd(meta, sx, sy, qx, qy, total_tasks=total_tasks)
