"""Sinusoid regression: the few-shot benchmark of MAML and Meta-SGD (chapter 1's outside anchor).

A task is ``y(x) = A · sin(x − φ)`` with amplitude ``A ~ U[0.1, 5]``, phase ``φ ~ U[0, π]`` and
inputs ``x ~ U[−5, 5]``: the ranges of Finn, Abbeel and Levine (2017), which Li et al. (2017)
reuse for the Meta-SGD table. The published family has no sign conflict (``flip=False``, the
default); ``flip=True`` multiplies half of the tasks by −1, which for a sinusoid is a phase
shift by π, so the flipped family is the same problem with phases on ``[0, 2π]``.
"""

from __future__ import annotations

import torch

from .. import _checks
from .base import TaskBatch, TaskFamily, uniform


class Sinusoid(TaskFamily):
    """Regression on ``y = sign · A · sin(x − φ)``.

    Args:
        shots: support examples per task (``K``, the table's 5, 10 or 20).
        queries: query examples per task.
        amplitude: range of ``A`` (default ``(0.1, 5.0)``).
        phase: range of ``φ`` in radians (default ``(0, π)``).
        x_max: inputs are uniform on ``[−x_max, x_max]`` (default 5).
        flip, flip_probability: the sign's distribution, as for every family, except that with
            neither given no task is flipped (the published family).

    Shapes: ``x (T, K, 1)``, ``y (T, K, 1)``; ``batch.sign`` holds the sign.

    Example::

        tasks = wh.tasks.Sinusoid(shots=10, queries=10)
        batch = tasks.sample(25, torch.Generator().manual_seed(0))
        batch.support_x.shape    # torch.Size([25, 10, 1])
    """

    loss = "mse"

    def __init__(self, shots: int = 10, queries: int = 10, *, amplitude=(0.1, 5.0), phase=(0.0, torch.pi),
                 x_max: float = 5.0, flip: bool | None = None, flip_probability: float | None = None):
        if flip is None:  # unlike the conflict families, no flips unless asked for
            flip = flip_probability is not None
        super().__init__(shots, queries, flip, flip_probability)
        self.amplitude = _checks.interval("amplitude", amplitude)
        if self.amplitude[0] < 0:
            raise ValueError(f"amplitude is the range of A and must be >= 0; got {amplitude!r}")
        self.phase = _checks.interval("phase", phase)
        self.x_max = _checks.positive("x_max", x_max)
        self.input_shape = (1,)

    def sample_tasks(self, n_tasks, generator):
        sign = self.signs(n_tasks, generator)
        a = uniform(self.amplitude, n_tasks, generator) * sign
        phi = uniform(self.phase, n_tasks, generator)
        x = (torch.rand(n_tasks, self.shots + self.queries, 1, generator=generator) * 2 - 1) * self.x_max
        y = a.view(-1, 1, 1) * torch.sin(x - phi.view(-1, 1, 1))
        k = self.shots
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:], sign)

    def describe(self):
        return {**super().describe(), "amplitude": self.amplitude, "phase": self.phase, "x_max": self.x_max}
