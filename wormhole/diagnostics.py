"""What the paper's claims are about: gradient conflict, and what the inner loop adapted."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.func import grad, vmap

from .learners.base import MetaLearner, Params
from .tasks.base import TaskBatch


class Conflict(NamedTuple):
    """``mean``: mean pairwise cosine of per-task meta-gradients (off-diagonal); ``matrix (T, T)``."""

    mean: float
    matrix: Tensor


def per_task_meta_gradients(learner: MetaLearner, batch: TaskBatch, meta: Params | None = None) -> Tensor:
    """Each task's meta-gradient with respect to the network's parameters θ
    (:meth:`~wormhole.MetaLearner.network_keys`), flattened: shape ``(T, P)``.

    Only θ, the coordinates every method shares: a method's own meta-parameters (w₀, learned
    rates) would add coordinates that MAML lacks and change the cosine by their presence alone.
    They, and a sweep's per-copy numbers (``"hyper.<name>"``), enter as constants."""
    meta = learner.meta_parameters() if meta is None else meta
    meta = {k: v.detach() for k, v in meta.items()}
    keys = learner.network_keys(meta)
    theta = {k: meta[k] for k in keys}
    rest = {k: v for k, v in meta.items() if k not in theta}

    def one_task(t, r, sx, sy, qx, qy):
        return learner.task_losses({**t, **r}, sx[None], sy[None], qx[None], qy[None])[0][0]

    g = vmap(grad(one_task), in_dims=(None, None, 0, 0, 0, 0))(theta, rest, *batch.tensors())
    return torch.cat([g[k].reshape(g[k].shape[0], -1) for k in keys], dim=1)


def cosine_matrix(vectors: Tensor) -> Tensor:
    """Pairwise cosine similarity of the rows of ``vectors (T, P)``."""
    unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


def gradient_conflict(learner: MetaLearner, batch: TaskBatch, meta: Params | None = None) -> Conflict:
    """Mean pairwise cosine similarity of per-task meta-gradients with respect to the network's
    parameters θ (:func:`per_task_meta_gradients`), and the matrix.

    Measured in θ, the coordinates every method shares, so that methods compare alike: a
    Wormhole whose multiplier cannot move (w₀ = 1, ``wormhole_lr=0``) reads exactly as MAML
    with the same θ on the same tasks. Negative means the tasks pull the initialisation in opposite directions (conflict).
    ``meta_train`` logs ``.mean`` as ``History.logged["conflict"]``.
    """
    c = cosine_matrix(per_task_meta_gradients(learner, batch, meta))
    t = c.shape[0]
    off = c[~torch.eye(t, dtype=torch.bool, device=c.device)]
    return Conflict(float(off.mean()) if t > 1 else float("nan"), c.detach())


def conflict_per_copy(learner: MetaLearner, meta: Params, tensors) -> list[float]:
    """:func:`gradient_conflict`'s ``mean`` for each of C stacked copies of the meta-parameters
    (leading dimension C, as ``meta_train`` holds them), each on its own tasks: ``tensors`` is
    ``(support_x, support_y, query_x, query_y)``, each with leading dimensions ``(C, T)``.
    One ``vmap`` over copies where the learner's inner loop is traceable by ``torch.func`` (it keeps
    the default :meth:`~wormhole.MetaLearner.meta_gradients`: the ``traceable_meta_gradients``
    capability), else one copy at a time."""
    tensors = tuple(tensors)
    if not learner.traceable_meta_gradients:
        return [gradient_conflict(learner, TaskBatch(*(t[i] for t in tensors)),
                                  {k: v[i] for k, v in meta.items()}).mean for i in range(tensors[0].shape[0])]
    grads = vmap(lambda m, *t: per_task_meta_gradients(learner, TaskBatch(*t), m))(meta, *tensors)
    c = vmap(cosine_matrix)(grads)  # (C, T, T)
    t = c.shape[1]
    if t < 2:
        return [float("nan")] * c.shape[0]
    off = ~torch.eye(t, dtype=torch.bool, device=c.device)
    return c[:, off].mean(1).tolist()


def _adapted(learner: MetaLearner, batch: TaskBatch, steps: int | None) -> tuple[Params, dict[str, Tensor]]:
    meta = {k: v.detach() for k, v in learner.meta_parameters().items()}
    with torch.no_grad():
        _, extras = learner.task_losses(meta, *batch.tensors(), steps=steps)
    return meta, {k: v.detach() for k, v in extras["adapted"].items()}


def adaptation_statistics(learner: MetaLearner, batch: TaskBatch, steps: int | None = None) -> dict[str, float]:
    """The learner's own summary (:meth:`~wormhole.MetaLearner.adapted_statistics`)
    of what its inner loop adapted on ``batch``; empty for methods that report nothing."""
    meta, adapted = _adapted(learner, batch, steps)
    return learner.adapted_statistics(meta, adapted, batch.sign) if adapted else {}


def wormhole_usage(learner: MetaLearner, batch: TaskBatch, steps: int | None = None) -> dict:
    """Does the inner loop pass through the wormhole? :func:`adaptation_statistics` (for the
    wormhole: the fraction of tasks whose adapted w changes sign, overall and split by the tasks'
    ``sign``) together with the adapted values themselves (``adapted_w (T, ...)``)."""
    meta, adapted = _adapted(learner, batch, steps)
    if not adapted:
        raise ValueError(f"learner must adapt a quantity beyond the model's parameters (a multiplier); "
                         f"{type(learner).__name__} reports none")
    return {**learner.adapted_statistics(meta, adapted, batch.sign), **adapted}
