"""Explicit back-propagation of the inner loop, for a batch of tasks at once.

The inner loop needs, for every task, the gradient of its support loss with respect to the
fast weights. The general path asks ``torch.func`` for it (``vmap`` over tasks of ``grad``),
which works for any model but pays ``torch.func``'s bookkeeping on every operation, and the
meta-gradient then differentiates through all of it a second time. For the built-in dense
models (:class:`~wormhole.models.MLP`, :class:`~wormhole.models.Logistic`) and the built-in
losses, this module writes the same gradient out as plain batched tensor algebra: one forward
that keeps its activations, then the chain rule by hand,

.. math::

    g_L = \\partial \\ell / \\partial z_L, \\qquad
    \\nabla W_i = g_i^\\top h_{i-1}, \\qquad \\nabla b_i = \\textstyle\\sum_n g_i, \\qquad
    g_{i-1} = (g_i W_i) \\odot [z_{i-1} > 0],

with a leading task dimension on everything; the first factor, ``g_L``, is the built-in loss's
derivative (:func:`wormhole.losses.task_output_gradients`). The result is an ordinary differentiable
expression, so the meta-gradient (second order, through the inner loop) is plain autograd
over it. Fast weights may be shared by all tasks (``(out, in)``, the first inner step) or
per task (``(T, out, in)``); broadcasting matmuls take both. Learners use it through
:meth:`wormhole.MetaLearner.explicit_support_gradients`, which falls back to ``torch.func``
for any other model, loss or method; ``tests/test_backprop.py`` checks it against autograd.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .functional import uses_functional_forward

Params = dict[str, Tensor]
Layers = list[tuple[str, str]]


def dense_layers(model: nn.Module) -> Layers | None:
    """The ``(weight name, bias name)`` of each linear layer of a dense ReLU stack, or ``None`` when
    ``model`` is not one this module can back-propagate: it must have the ``dense`` capability of
    :class:`wormhole.models.FunctionalModel` (so that a subclass with another forward falls back)."""
    if not (uses_functional_forward(model) and getattr(model, "dense", False)):
        return None
    return model.dense_layers()


def dense_forward(layers: Layers, params: Params, x: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    """The dense ReLU stack on ``x (T, N, ...)`` (flattened to ``(T, N, in)``): returns the output
    ``(T, N, out)`` and, per layer, its input and pre-activation, the cache :func:`dense_backward` needs."""
    h = x.flatten(2) if x.dim() > 3 else x
    cache = []
    for i, (w, b) in enumerate(layers):
        z = torch.matmul(h, params[w].transpose(-1, -2)) + params[b].unsqueeze(-2)
        cache.append((h, z))
        h = torch.relu(z) if i < len(layers) - 1 else z
    return h, cache


def dense_backward(layers: Layers, params: Params, cache: list[tuple[Tensor, Tensor]], grad_out: Tensor,
                   wanted: set[str]) -> Params:
    """Per-task gradients ``(T, *shape)`` of the parameters named in ``wanted``, given
    ``grad_out (T, N, out)`` = d loss / d output and the cache of :func:`dense_forward`.
    Stops at the lowest layer with a wanted parameter (ANIL wants only the head)."""
    lowest = min((i for i, pair in enumerate(layers) if wanted & set(pair)), default=len(layers))
    grads, g = {}, grad_out
    for i in range(len(layers) - 1, lowest - 1, -1):
        w, b = layers[i]
        if w in wanted:
            grads[w] = torch.matmul(g.transpose(-1, -2), cache[i][0])
        if b in wanted:
            grads[b] = g.sum(-2)
        if i > lowest:  # through layer i to the pre-activation below: ReLU's derivative as autograd takes it
            g = torch.ops.aten.threshold_backward(torch.matmul(g, params[w]), cache[i - 1][1], 0)
    return grads
