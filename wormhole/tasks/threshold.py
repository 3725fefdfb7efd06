"""Threshold comparison, the paper's toy classification problem (chapter 3)."""

from __future__ import annotations

import torch

from .. import _checks
from .base import TaskBatch, TaskFamily


class Threshold(TaskFamily):
    """Binary tasks ``y = 1[d · (x − t) > 0]`` on ``x ~ U[−x_max, x_max]``.

    A task draws a threshold ``t ~ U[−t_max, t_max]`` and a direction ``d``:
    −1 with probability ``flip_probability`` (the strength of the conflict; ``flip=True``
    means 0.5, the conflicting family), always +1 when ``flip=False`` (the control). Shapes: ``x (T, K, 1)``, ``y (T, K, 1)`` in {0, 1}.
    ``batch.sign`` holds ``d``.
    """

    loss = "bce"

    def __init__(self, shots: int = 5, queries: int = 20, flip: bool = True, *, x_max: float = 2.0,
                 t_max: float = 1.0, flip_probability: float | None = None):
        super().__init__(shots, queries, flip, flip_probability)
        self.x_max = _checks.positive("x_max", x_max)
        self.t_max = _checks.positive("t_max", t_max, allow_zero=True)
        self.input_shape = (1,)

    def sample_tasks(self, n_tasks, generator):
        t = (torch.rand(n_tasks, 1, 1, generator=generator) * 2 - 1) * self.t_max
        d = self.signs(n_tasks, generator)
        n = self.shots + self.queries
        x = (torch.rand(n_tasks, n, 1, generator=generator) * 2 - 1) * self.x_max
        y = (d.view(-1, 1, 1) * (x - t) > 0).float()
        k = self.shots
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:], d)

    def describe(self):
        return {**super().describe(), "x_max": self.x_max, "t_max": self.t_max}
