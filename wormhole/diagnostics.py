"""What the paper's claims are about: gradient conflict, and whether the inner loop uses the wormhole."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.func import grad, vmap

from .learners.base import MetaLearner, Params
from .learners.wormhole import WORMHOLE_KEY
from .tasks.base import TaskBatch


class Conflict(NamedTuple):
    """``mean``: mean pairwise cosine of per-task meta-gradients (off-diagonal); ``matrix (T, T)``."""

    mean: float
    matrix: Tensor


def per_task_meta_gradients(learner: MetaLearner, batch: TaskBatch, meta: Params | None = None) -> Tensor:
    """Each task's meta-gradient, flattened over all meta-parameters: shape ``(T, P)``."""
    meta = learner.meta_parameters() if meta is None else meta
    meta = {k: v.detach() for k, v in meta.items()}

    def one_task(m, sx, sy, qx, qy):
        return learner.task_losses(m, sx[None], sy[None], qx[None], qy[None])[0][0]

    g = vmap(grad(one_task), in_dims=(None, 0, 0, 0, 0))(meta, *batch.tensors())
    return torch.cat([v.reshape(v.shape[0], -1) for v in g.values()], dim=1)


def cosine_matrix(vectors: Tensor) -> Tensor:
    """Pairwise cosine similarity of the rows of ``vectors (T, P)``."""
    unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


def gradient_conflict(learner: MetaLearner, batch: TaskBatch, meta: Params | None = None) -> Conflict:
    """Mean pairwise cosine similarity of per-task meta-gradients, and the matrix.

    Negative means the tasks pull the initialisation in opposite directions (conflict).
    """
    c = cosine_matrix(per_task_meta_gradients(learner, batch, meta))
    t = c.shape[0]
    off = c[~torch.eye(t, dtype=torch.bool, device=c.device)]
    return Conflict(float(off.mean()) if t > 1 else float("nan"), c.detach())


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


def wormhole_usage(learner: MetaLearner, batch: TaskBatch, steps: int | None = None) -> dict:
    """Does the inner loop pass through the wormhole? The fraction of tasks whose adapted w
    changes sign (overall, and split by the tasks' ``sign``), and the adapted values ``(T, ...)``."""
    meta = learner.meta_parameters()
    if WORMHOLE_KEY not in learner.initial_fast(meta):
        raise ValueError(f"learner must carry a wormhole multiplier; {type(learner).__name__} has none")
    with torch.no_grad():
        _, extras = learner.task_losses({k: v.detach() for k, v in meta.items()}, *batch.tensors(), steps=steps)
    adapted = extras["fast"][WORMHOLE_KEY].detach()
    w0 = learner.initial_fast(meta)[WORMHOLE_KEY].detach()
    return {**flip_statistics(w0, adapted, batch.sign), "adapted_w": adapted}
