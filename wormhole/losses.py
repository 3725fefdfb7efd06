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


LOSSES: dict[str, LossFn] = {"bce": _bce, "mse": _mse, "ce": _ce}


# The same losses and accuracies for a batch of tasks at once: ``(T, N, ...)`` -> ``(T,)``, each
# task's value as above (``vmap`` of the per-task function gives the same numbers, at more cost).
def _per_example(pred, target, name):
    if name == "ce":
        return F.cross_entropy(pred.flatten(0, 1), target.flatten(0, 1), reduction="none").view(target.shape)
    fn = F.binary_cross_entropy_with_logits if name == "bce" else F.mse_loss
    return fn(pred, target, reduction="none")


def task_losses(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The built-in loss ``name`` of each task of a batch: ``pred (T, N, ...)``, ``target (T, N, ...)`` -> ``(T,)``."""
    return _per_example(pred, target, name).flatten(1).mean(1)


def task_accuracies(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The built-in accuracy of ``name`` for each task of a batch (``(T,)``; NaN for ``"mse"``).

    A task whose predictions are not all finite (a diverged model) has accuracy NaN, like its
    loss: ``NaN > 0`` is False, so without this a diverged model would score a finite accuracy."""
    if name == "bce":
        hits = (pred > 0).to(target.dtype) == target
    elif name == "ce":
        hits = pred.argmax(-1) == target
    else:
        return pred.new_full(pred.shape[:1], float("nan"))
    accuracy = hits.to(pred.dtype).flatten(1).mean(1)
    finite = torch.isfinite(pred).flatten(1).all(1)
    return torch.where(finite, accuracy, torch.full_like(accuracy, float("nan")))


def _one_task_accuracy(name: str) -> LossFn:
    def accuracy(pred, target):
        return task_accuracies(name, pred[None], target[None])[0]
    accuracy.__name__ = f"{name}_accuracy"
    return accuracy


#: the accuracy of each classification loss for one task, ``(prediction, target) -> scalar``: the
#: batched :func:`task_accuracies` applied to a batch of one, so the two forms cannot disagree
ACCURACIES: dict[str, LossFn] = {name: _one_task_accuracy(name) for name in ("bce", "ce")}


def _bce_gradient(pred, target):
    return (torch.sigmoid(pred) - target) / pred[0].numel()


def _mse_gradient(pred, target):
    return 2 * (pred - target) / pred[0].numel()


def _ce_gradient(pred, target):
    # not F.one_hot, which checks the labels' range: data-dependent, so not allowed under vmap over copies
    onehot = (target.unsqueeze(-1) == torch.arange(pred.shape[-1], device=pred.device)).to(pred.dtype)
    return (torch.softmax(pred, -1) - onehot) / pred.shape[-2]


#: the derivative of each built-in loss with respect to the prediction, for a batch of tasks
OUTPUT_GRADIENTS: dict[str, LossFn] = {"bce": _bce_gradient, "mse": _mse_gradient, "ce": _ce_gradient}


def task_output_gradients(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d (task loss) / d prediction of the built-in loss ``name`` for each task of a batch, written
    out (the first factor of :mod:`wormhole.backprop`'s chain rule): ``pred (T, N, ...)``,
    ``target (T, N, ...)`` -> the shape of ``pred``."""
    return OUTPUT_GRADIENTS[name](pred, target)


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
