"""MAML (Finn, Abbeel & Levine 2017): adapt every parameter with a few gradient steps."""

from __future__ import annotations

import torch
from torch.func import functional_call, grad, vmap

from .base import MetaLearner


def reference_meta_loss(model: torch.nn.Module, params: dict, loss_fn, batch, *, inner_lr: float, steps: int,
                        first_order: bool = False) -> torch.Tensor:
    """MAML's meta-objective written out: the reference that :class:`MAML` computes.

    ``batch`` is ``(support_x, support_y, query_x, query_y)`` (a :class:`wormhole.tasks.TaskBatch`'s
    ``tensors()``, shapes as there). For every task ``i`` (their leading dimension), ``steps`` gradient steps of size ``inner_lr`` on the
    support loss from the shared ``params`` (a plain dict of tensors, as
    ``dict(model.named_parameters())``), then the query loss; the mean over tasks::

        θ_i⁰ = θ,   θ_iʲ⁺¹ = θ_iʲ − α ∇ L_i^support(θ_iʲ),   meta-loss = mean_i L_i^query(θ_i^steps)

    ``first_order`` stops the meta-gradient at the inner gradients (first-order MAML). The
    package's learners compute the same number faster (tasks batched by hand for dense models,
    :mod:`wormhole.backprop`); the tests hold every path of :class:`MAML` to this function.
    """

    def task_loss(p, x, y):
        return loss_fn(functional_call(model, p, (x,)), y)

    def adapt(p, x, y):
        for _ in range(steps):
            g = grad(task_loss)(p, x, y)
            if first_order:
                g = {k: v.detach() for k, v in g.items()}
            p = {k: v - inner_lr * g[k] for k, v in p.items()}
        return p

    def one_task(p, sx, sy, qx, qy):
        return task_loss(adapt(p, sx, sy), qx, qy)

    return vmap(one_task, in_dims=(None, 0, 0, 0, 0))(params, *batch).mean()


class MAML(MetaLearner):
    """Model-agnostic meta-learning.

    The inner loop is ``θ_i^{j+1} = θ_i^j − α ∇ L_i^support(θ_i^j)`` from ``θ_i^0 = θ``;
    the meta-objective is the mean query loss after ``steps`` such steps, written out in full
    in :func:`reference_meta_loss` (twenty lines of ``torch.func``). MAML overrides no hook of
    :class:`~wormhole.MetaLearner`: it is the base class's inner loop as it is.

    Args:
        model: the network f, any ``torch.nn.Module`` without batch statistics (its
            parameters are the meta-parameters θ; see :mod:`wormhole.models`).
        loss: the per-task loss: ``"bce"`` (binary logits), ``"mse"``, ``"ce"`` (N-way
            logits with integer labels) or a callable ``(prediction, target) -> scalar``
            for one task (:func:`wormhole.losses.resolve`).
        inner_lr: the inner-loop step size α (a number > 0).
        steps: the number of inner gradient steps during meta-training (>= 0); evaluation
            and :meth:`adapt` may take other numbers.
        first_order: drop the second derivatives from the meta-gradient (first-order MAML,
            FOMAML): cheaper, and biased.

    Example::

        >>> import torch, wormhole as wh
        >>> learner = wh.MAML(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4, steps=1)
        >>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
        >>> history = wh.meta_train(learner, tasks, iterations=5, meta_batch=8, seed=0, progress=False)
        >>> batch = tasks.sample(1, torch.Generator().manual_seed(1))
        >>> fast = learner.adapt(batch.support_x[0], batch.support_y[0])  # one new task
        >>> learner.predict(fast, batch.query_x[0]).shape
        torch.Size([20, 1])

    References:
        1. Finn, C., Abbeel, P. & Levine, S. (2017). "Model-Agnostic Meta-Learning for Fast
           Adaptation of Deep Networks." ICML. https://arxiv.org/abs/1703.03400
    """
