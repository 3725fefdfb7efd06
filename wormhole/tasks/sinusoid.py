"""Sinusoid regression: the few-shot benchmark of MAML and Meta-SGD (chapter 1's outside anchor).

A task is ``y(x) = A · sin(ω·x − φ)`` with amplitude ``A ~ U[0.1, 5]``, phase ``φ ~ U[0, π]`` and
inputs ``x ~ U[−5, 5]``. Two published families (:data:`FAMILIES`):

* ``"finn2017"``, the default: the frequency is fixed, ``ω = 1`` (Finn, Abbeel & Levine 2017,
  section 5.1, the regression experiment);
* ``"li2017"``: the frequency is drawn too, ``ω ~ U[0.8, 1.2]`` (Li, Zhou, Chen & Li 2017,
  section 4.1, the regression experiment of the Meta-SGD table), :meth:`Sinusoid.published`.

Neither has a sign conflict (``flip=False``, the default); ``flip=True`` multiplies half of the
tasks by −1, which for a sinusoid is a phase shift by π, so the flipped family is the same
problem with phases on ``[0, 2π]``.
"""

from __future__ import annotations

import torch

from .. import _checks
from .base import TaskBatch, TaskFamily, uniform


#: the published sinusoid families: their ranges and where each is stated
FAMILIES = {
    "finn2017": dict(amplitude=(0.1, 5.0), frequency=(1.0, 1.0), phase=(0.0, torch.pi), x_max=5.0,
                     source="Finn, Abbeel & Levine (2017), section 5.1: A in [0.1, 5.0], phase in [0, π], "
                            "x in [-5.0, 5.0]; no frequency (ω = 1)"),
    "li2017": dict(amplitude=(0.1, 5.0), frequency=(0.8, 1.2), phase=(0.0, torch.pi), x_max=5.0,
                   source="Li, Zhou, Chen & Li (2017), section 4.1: A in [0.1, 5.0], ω in [0.8, 1.2], "
                          "phase in [0, π], x in [-5.0, 5.0]"),
}


class Sinusoid(TaskFamily):
    """Regression on ``y = sign · A · sin(ω·x − φ)``.

    Args:
        shots: support examples per task (``K``, the table's 5, 10 or 20).
        queries: query examples per task.
        amplitude: range of ``A`` (default ``(0.1, 5.0)``).
        frequency: range of ``ω`` (default ``(1, 1)``: fixed, as in MAML's family; a range is
            drawn per task, after the amplitude and before the phase).
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

    def __init__(self, shots: int = 10, queries: int = 10, *, amplitude=(0.1, 5.0), frequency=(1.0, 1.0),
                 phase=(0.0, torch.pi), x_max: float = 5.0, flip: bool | None = None,
                 flip_probability: float | None = None):
        if flip is None:  # unlike the conflict families, no flips unless asked for
            flip = flip_probability is not None
        super().__init__(shots, queries, flip, flip_probability)
        self.amplitude = _checks.interval("amplitude", amplitude)
        if self.amplitude[0] < 0:
            raise ValueError(f"amplitude is the range of A and must be >= 0; got {amplitude!r}")
        self.frequency = _checks.interval("frequency", frequency)
        if self.frequency[0] <= 0:
            raise ValueError(f"frequency is the range of ω and must be > 0; got {frequency!r}")
        self.phase = _checks.interval("phase", phase)
        self.x_max = _checks.positive("x_max", x_max)
        self.input_shape = (1,)

    def sample_tasks(self, n_tasks, generator):
        sign = self.signs(n_tasks, generator)
        a = uniform(self.amplitude, n_tasks, generator) * sign
        # a fixed frequency draws nothing, so MAML's family keeps the task stream it always had
        omega = (uniform(self.frequency, n_tasks, generator) if self.frequency[0] != self.frequency[1]
                 else torch.full((n_tasks,), self.frequency[0]))
        phi = uniform(self.phase, n_tasks, generator)
        x = (torch.rand(n_tasks, self.shots + self.queries, 1, generator=generator) * 2 - 1) * self.x_max
        y = a.view(-1, 1, 1) * torch.sin(omega.view(-1, 1, 1) * x - phi.view(-1, 1, 1))
        k = self.shots
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:], sign)

    @classmethod
    def published(cls, family: str = "li2017", shots: int = 10, queries: int = 10, **options) -> "Sinusoid":
        """The family a paper published numbers on (:data:`FAMILIES`: ``"li2017"``, the Meta-SGD
        table's, or ``"finn2017"``, MAML's), with ``shots``, ``queries`` and ``options`` (e.g. ``flip``)."""
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {sorted(FAMILIES)}; got {family!r}")
        ranges = {k: v for k, v in FAMILIES[family].items() if k != "source"}
        return cls(shots, queries, **ranges, **options)

    def describe(self):
        out = {**super().describe(), "amplitude": self.amplitude, "phase": self.phase, "x_max": self.x_max}
        if self.frequency != (1.0, 1.0):   # MAML's family describes itself as it always has
            out["frequency"] = self.frequency
        return out
