"""Quadratic tasks ``L_i(θ) = ½‖θ − θ_i*‖²`` with ``θ_i* ∈ {u, −u}`` (the theory chapter)."""

from __future__ import annotations

import torch

from ..losses import half_squared_distance
from .base import TaskBatch, TaskFamily


class Quadratic(TaskFamily):
    """Each task's optimum is ``+u``, or ``−u`` with probability ``flip_probability`` (``flip=True``: 0.5).

    Pair it with :class:`wormhole.models.Point` and the loss
    :func:`wormhole.losses.half_squared_distance`. The inputs carry no
    information (zeros of shape ``(T, 1, 1)``); the targets are ``θ_i*`` of shape ``(T, 1, dim)``.
    """

    loss = staticmethod(half_squared_distance)

    def __init__(self, u, flip: bool = True, flip_probability: float | None = None):
        super().__init__(shots=1, queries=1, flip=flip, flip_probability=flip_probability)
        self.u = torch.as_tensor(u, dtype=torch.float32).flatten()
        if self.u.numel() == 0 or not torch.isfinite(self.u).all():
            raise ValueError(f"u must be a non-empty finite vector, got {u!r}")
        self.input_shape = (1,)

    def sample_tasks(self, n_tasks, generator):
        sign = self.signs(n_tasks, generator)
        target = sign.view(-1, 1, 1) * self.u.view(1, 1, -1)
        x = torch.zeros(n_tasks, 1, 1)
        return TaskBatch(x, target, x.clone(), target.clone(), sign)

    def describe(self):
        return {**super().describe(), "u": self.u.tolist()}
