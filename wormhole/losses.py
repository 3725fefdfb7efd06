"""Per-task losses and accuracies, looked up by name.

Every loss maps ``(prediction, target)`` of one task to a scalar, so it can be
``vmap``-ed over tasks. Shapes: ``bce`` takes logits ``(N, 1)`` and 0/1 targets
``(N, 1)``; ``mse`` takes ``(N, D)`` and ``(N, D)``; ``ce`` takes logits
``(N, C)`` and integer labels ``(N,)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from . import _checks

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _bce(pred, target):
    return F.binary_cross_entropy_with_logits(pred, target)


def _mse(pred, target):
    return F.mse_loss(pred, target)


def _ce(pred, target):
    return F.cross_entropy(pred, target)


def _bce_accuracy(pred, target):
    return ((pred > 0).to(target.dtype) == target).to(pred.dtype).mean()


def _ce_accuracy(pred, target):
    return (pred.argmax(-1) == target).to(pred.dtype).mean()


LOSSES: dict[str, LossFn] = {"bce": _bce, "mse": _mse, "ce": _ce}
ACCURACIES: dict[str, LossFn] = {"bce": _bce_accuracy, "ce": _ce_accuracy}


def resolve(loss: str | LossFn) -> tuple[str, LossFn]:
    """Return ``(name, fn)`` for a loss name or a callable ``(prediction, target) -> scalar``."""
    if callable(loss):
        return getattr(loss, "__name__", "custom"), loss
    _checks.choice("loss", loss, LOSSES)
    return loss, LOSSES[loss]


def accuracy_fn(name: str) -> LossFn | None:
    """The accuracy of a classification loss, or ``None`` for regression and custom losses."""
    return ACCURACIES.get(name)


def half_squared_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``½‖pred − target‖²`` summed over features, averaged over examples: the theory chapter's quadratic loss."""
    return 0.5 * ((pred - target) ** 2).sum(-1).mean()
