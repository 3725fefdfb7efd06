"""Pure forward passes of the built-in models, cheap under ``vmap`` and ``grad``.

``torch.func.functional_call`` re-parametrises a module on every call (it swaps every
parameter in and out), and the inner loop calls the forward twice per inner step for
every task. The built-in models (:mod:`wormhole.models`) instead expose
``functional_forward(params, x, layer_scales=None)``, a plain function of a parameter dict
(keyed like ``named_parameters()``) that ``vmap`` and ``grad`` take directly.
:func:`forward` picks it when it is valid and falls back to ``functional_call`` for any
other module.

Under ``vmap`` over tasks, a per-task convolution weight turns ``F.conv2d`` into a grouped
convolution, one small product per task. :func:`conv2d_matmul` writes a convolution as a
matrix product instead (a batch of weights is then one ``bmm``, whose backward passes are
``bmm`` too); :func:`conv2d` uses it where that moves less memory than the grouped kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

Params = dict[str, Tensor]


def uses_functional_forward(model: nn.Module) -> bool:
    """Whether ``model.functional_forward`` computes what ``model.forward`` does: the ``functional``
    capability of :class:`wormhole.models.FunctionalModel` (the built-in models and subclasses that
    keep their forward; a subclass that overrides ``forward`` alone falls back to ``functional_call``)."""
    return bool(getattr(model, "functional", False)) and callable(getattr(model, "functional_forward", None))


def forward(model: nn.Module, params: Params, x: Tensor, layer_scales: Tensor | None = None) -> Tensor:
    """``model``'s prediction on ``x`` with the parameters ``params`` (every parameter of the model,
    keyed like ``named_parameters()``): its ``functional_forward`` where valid, else ``functional_call``."""
    if uses_functional_forward(model):
        return model.functional_forward(params, x, layer_scales)
    kwargs = {} if layer_scales is None else {"layer_scales": layer_scales}
    return functional_call(model, params, (x,), kwargs)


def scale(h: Tensor, layer_scales: Tensor | None, i: int) -> Tensor:
    """``h`` times the ``i``-th entry of ``layer_scales`` (``(n_layers,)``), or ``h`` if there are none."""
    return h if layer_scales is None else h * layer_scales[i]


def linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x (N, in) @ weight (out, in)ᵀ + bias (out,)`` -> ``(N, out)``, as ``nn.Linear``."""
    return F.linear(x, weight, bias)


# ---------------------------------------------------------------- convolutions


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int = 0) -> Tensor:
    """Convolution (stride 1): ``x (N, C, H, W)``, ``weight (O, C, kh, kw)`` -> ``(N, O, H', W')``.

    :func:`conv2d_matmul` where its columns (``C·kh·kw`` rows) are no larger than the output
    (``O`` rows), as in a first layer on grey images, where ``vmap``'s grouped convolution
    runs one tiny product per task and channel; ``F.conv2d`` otherwise, where building the
    columns would move ``C·kh·kw / O`` times the output's memory, more than the dense (grouped)
    kernel loses. Elementwise passes over the activations, not the convolutions, bound the
    ConvNet's meta-step on a CPU (see ``benchmarks/README.md``).
    """
    if weight.shape[1] * weight.shape[2] * weight.shape[3] <= weight.shape[0]:
        return conv2d_matmul(x, weight, bias, padding)
    return F.conv2d(x, weight, bias, padding=padding)


def conv2d_matmul(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int = 0) -> Tensor:
    """Convolution (stride 1) as one matrix product: ``x (N, C, H, W)``, ``weight (O, C, kh, kw)``,
    ``bias (O,)`` -> ``(N, O, H', W')``; equals ``F.conv2d(x, weight, bias, padding=padding)``.

    The columns of all N images sit side by side, ``(C·kh·kw, N·H'·W')``, built from the
    kh·kw shifted copies of the padded input (im2col by slicing: ``F.unfold`` loops over the
    images under ``vmap``). One task's convolution is then a single ``(O, C·kh·kw) @ (C·kh·kw,
    N·H'·W')`` product; under ``vmap`` with per-task weights it is one ``bmm`` over tasks,
    whose backward passes are ``bmm`` and sums of slices (dense, and differentiable again
    for second-order MAML).
    """
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    h_out, w_out = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    padded = F.pad(x, (padding,) * 4).transpose(0, 1)  # (C, N, H, W)
    cols = torch.stack([padded[..., i:i + h_out, j:j + w_out] for i in range(kh) for j in range(kw)], 1)
    out = weight.reshape(o, c * kh * kw) @ cols.reshape(c * kh * kw, n * h_out * w_out)
    out = out.view(o, n, h_out, w_out).transpose(0, 1)
    return out if bias is None else out + bias[:, None, None]


def group_norm(x: Tensor, groups: int, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """``nn.GroupNorm(groups, C)`` on ``x (N, C, H, W)``: per image, so it needs nothing across
    the batch and ``vmap`` over tasks folds tasks into images."""
    return F.group_norm(x, groups, weight, bias, eps)


def relu_max_pool2(x: Tensor) -> Tensor:
    """``max_pool2d(relu(x), 2)`` on ``x (N, C, H, W)``, computed as ``relu(max_pool2d(x, 2))``.

    The two are equal (ReLU is monotone, and where a window is all negative both give 0 with
    zero gradient); pooling first makes the ReLU and its derivatives run on a quarter of the
    pixels, which matters because the ConvNet's meta-step is bound by such elementwise passes.
    """
    return torch.relu(torch.max_pool2d(x, 2))
