"""Closed forms for the theory chapter (chapter 2, the glued parameter space), checked against the learners.

Quadratic tasks ``L_i(θ) = ½‖θ − θ_i*‖²`` with ``θ_i* ∈ {u, −u}`` equally likely,
one inner step of rate α (and α_w for the wormhole's multiplier, parameter placement
``f = w·θ``).
"""

from __future__ import annotations

import numpy as np


def _vec(u) -> np.ndarray:
    return np.asarray(u, dtype=np.float64).ravel()


def maml_meta_loss(theta, u, alpha: float) -> float:
    """MAML's meta-loss ``E_i ½(1 − α)²‖θ − θ_i*‖²`` over ``θ_i* = ±u``."""
    theta, u = _vec(theta), _vec(u)
    return float(0.25 * (1 - alpha) ** 2 * (np.sum((theta - u) ** 2) + np.sum((theta + u) ** 2)))


def maml_optimum(u, alpha: float) -> tuple[np.ndarray, float]:
    """MAML's optimal initialisation (the mean of the optima, 0) and its meta-loss ``(1 − α)²‖u‖²/2``."""
    u = _vec(u)
    return np.zeros_like(u), float((1 - alpha) ** 2 * np.sum(u**2) / 2)


def maml_task_meta_gradient(theta, target, alpha: float) -> np.ndarray:
    """∇_θ of one task's post-adaptation loss: ``(1 − α)²(θ − θ*)``."""
    return (1 - alpha) ** 2 * (_vec(theta) - _vec(target))


def meta_gradient_cosine(theta, u, alpha: float) -> float:
    """Cosine between the meta-gradients of tasks ``+u`` and ``−u`` at ``θ`` (−1 at θ = 0)."""
    a = maml_task_meta_gradient(theta, u, alpha)
    b = maml_task_meta_gradient(theta, -_vec(u), alpha)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def wormhole_step(theta, w0: float, target, alpha: float, alpha_w: float) -> tuple[np.ndarray, float]:
    """One wormhole step (parameter placement) on ``½‖wθ − θ*‖²``: returns ``(θ', w')``.

    ``∂θ = w(wθ − θ*)`` and ``∂w = θ·(wθ − θ*)``, both at the start point.
    """
    theta, target = _vec(theta), _vec(target)
    r = w0 * theta - target
    return theta - alpha * w0 * r, float(w0 - alpha_w * theta @ r)


def wormhole_meta_loss(theta, w0: float, u, alpha: float, alpha_w: float) -> float:
    """Meta-loss of one wormhole step, averaged over the tasks ``±u``."""
    total = 0.0
    for target in (_vec(u), -_vec(u)):
        th, w = wormhole_step(theta, w0, target, alpha, alpha_w)
        total += 0.5 * np.sum((w * th - target) ** 2)
    return total / 2


def wormhole_flip_product(u, alpha: float, alpha_w: float) -> np.ndarray:
    """``w'θ'`` after one step from ``θ = u, w₀ = 1`` on task ``−u``: ``(1 − 2α_w‖u‖²)(1 − 2α)·u``."""
    u = _vec(u)
    return (1 - 2 * alpha_w * u @ u) * (1 - 2 * alpha) * u


def wormhole_lr_for_flip(u, alpha: float) -> float:
    """The α_w at which one step from ``(θ = u, w₀ = 1)`` lands exactly on ``−u``.

    Solves ``(1 − 2α_w‖u‖²)(1 − 2α) = −1``: ``α_w = (1 + 1/(1 − 2α)) / (2‖u‖²)``
    (``1/‖u‖²`` at α = 0). Undefined at α = ½, where the θ-step already lands on 0.
    """
    u = _vec(u)
    if abs(1 - 2 * alpha) < 1e-12:
        raise ValueError("alpha must differ from 0.5: there the θ-step maps u to 0 and no α_w can flip it")
    return float((1 + 1 / (1 - 2 * alpha)) / (2 * u @ u))


# ---------------------------------------------------------------- logistic threshold model
def logistic_wormhole_gradient(a: float, b: float, w: float, x, y) -> float:
    """``∂L/∂w`` for the model ``w·(a x + b)`` under mean binary cross-entropy: ``mean((σ(w f) − y) f)``."""
    x, y = _vec(x), _vec(y)
    f = a * x + b
    return float(np.mean((1 / (1 + np.exp(-w * f)) - y) * f))


def logistic_flips(a: float, b: float, w: float, x, y, *, alpha_w: float) -> bool:
    """Whether one inner step sends ``w`` through 0: ``sign(w − α_w ∂_w L) ≠ sign(w)``."""
    return bool(np.sign(w - alpha_w * logistic_wormhole_gradient(a, b, w, x, y)) != np.sign(w))


def glued_partner(last_layer: dict, w: float) -> tuple[dict, float]:
    """The other point of parameter space with the same function (output placement):
    the last layer negated and ``w`` negated, since ``w·f = (−w)·(−f)``."""
    return {k: -np.asarray(v) for k, v in last_layer.items()}, -w


def shortcut_lengths(last_layer_params, w: float = 1.0) -> tuple[float, float]:
    """Length of the path from ``f`` to ``−f``: ``2|w|`` through the multiplier versus
    ``2‖θ_last‖`` through the last layer's parameters (a straight line through the origin)."""
    flat = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in last_layer_params])
    return 2 * abs(w), float(2 * np.linalg.norm(flat))
