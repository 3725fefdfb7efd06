"""What every task family returns: a :class:`TaskBatch` with tasks as the leading dimension."""

from __future__ import annotations

import abc
from typing import NamedTuple

import torch
from torch import Tensor

from .. import _checks


class TaskBatch(NamedTuple):
    """A meta-batch of tasks.

    Shapes (T tasks, K support and Q query examples per task):
    ``support_x (T, K, ...)``, ``support_y (T, K, ...)``, ``query_x (T, Q, ...)``,
    ``query_y (T, Q, ...)``. ``sign (T,)`` is +1 or −1: which side of the
    family's symmetry each task sits on (the flipped tasks have −1).
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    sign: Tensor | None = None

    @property
    def n_tasks(self) -> int:
        """The number of tasks T."""
        return self.support_x.shape[0]

    def tensors(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The four data tensors, in the order the learners take them."""
        return self.support_x, self.support_y, self.query_x, self.query_y

    def to(self, device) -> "TaskBatch":
        """The same batch with every tensor on ``device``."""
        return TaskBatch(*(None if t is None else t.to(device) for t in self))

    def select(self, index) -> "TaskBatch":
        """The tasks at ``index`` (an int, slice or index tensor) as a smaller batch."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return TaskBatch(*(None if t is None else t[index] for t in self))

    def validate(self) -> "TaskBatch":
        """Raise ``ValueError`` if the four tensors disagree on tasks or examples."""
        sx, sy, qx, qy = self.tensors()
        for name, t in zip(("support_x", "support_y", "query_x", "query_y"), (sx, sy, qx, qy)):
            if not isinstance(t, Tensor) or t.dim() < 2:
                raise ValueError(f"{name} must be a tensor of shape (tasks, examples, ...), got "
                                 f"{getattr(t, 'shape', type(t).__name__)}")
        if len({sx.shape[0], sy.shape[0], qx.shape[0], qy.shape[0]}) != 1:
            raise ValueError("support_x, support_y, query_x and query_y must have the same number of tasks "
                             f"(leading dimension); got {sx.shape[0]}, {sy.shape[0]}, {qx.shape[0]}, {qy.shape[0]}")
        if sx.shape[:2] != sy.shape[:2] or qx.shape[:2] != qy.shape[:2]:
            raise ValueError(f"inputs and targets must agree on (tasks, examples): support {tuple(sx.shape[:2])} "
                             f"vs {tuple(sy.shape[:2])}, query {tuple(qx.shape[:2])} vs {tuple(qy.shape[:2])}")
        if sx.shape[2:] != qx.shape[2:]:
            raise ValueError(f"support_x and query_x must have the same example shape; got "
                             f"{tuple(sx.shape[2:])} and {tuple(qx.shape[2:])}")
        return self


def resolve_flip_probability(flip: bool = True, flip_probability: float | None = None) -> float:
    """The probability that a task is flipped (its sign is −1): ``flip_probability`` when given
    (a number in [0, 1]), else 0.5 for ``flip=True`` and 0 for ``flip=False``. ``flip=False``
    with a ``flip_probability`` above 0 contradicts itself and raises ``ValueError``."""
    if flip_probability is None:
        return 0.5 if flip else 0.0
    try:
        p = float(flip_probability)
    except (TypeError, ValueError):
        raise ValueError(f"flip_probability must be a number in [0, 1], got {flip_probability!r}") from None
    if not 0 <= p <= 1:  # also refuses NaN
        raise ValueError(f"flip_probability must be a number in [0, 1], got {flip_probability!r}")
    if not flip and p > 0:
        raise ValueError(f"flip=False means flip_probability=0; got flip_probability={flip_probability!r} "
                         "(pass flip_probability alone)")
    return p


def uniform(bounds: tuple[float, float], n: int, generator: torch.Generator) -> Tensor:
    """``n`` draws from ``U[low, high]`` for ``bounds = (low, high)``, shape ``(n,)``."""
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(n, generator=generator)


class TaskFamily(abc.ABC):
    """A distribution over tasks.

    Attributes every family sets: ``loss`` (the loss name its learners use),
    ``shots``, ``queries``, ``flip_probability`` (the probability that a task is flipped:
    the strength of the conflict) and ``flip`` (whether both signs occur: ``flip_probability > 0``).
    ``flip=True`` is an alias of ``flip_probability=0.5`` and ``flip=False`` of 0.

    **Writing a family.** Subclass, call ``super().__init__(shots, queries, flip, flip_probability)``, and implement
    :meth:`sample_tasks`, which draws everything from the ``generator`` it is given and
    returns a :class:`TaskBatch` whose ``sign`` says which side of the family's symmetry each
    task sits on; :meth:`signs` draws those signs (all +1 when ``flip=False``). Override
    :meth:`describe` to add the family's own settings. Users call :meth:`sample`, which checks
    the count, supplies a generator if none is given and validates the batch::

        class Line(TaskFamily):
            def sample_tasks(self, n_tasks, generator):
                sign = self.signs(n_tasks, generator)
                x = torch.rand(n_tasks, self.shots + self.queries, 1, generator=generator)
                y = sign.view(-1, 1, 1) * x
                k = self.shots
                return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:], sign)
    """

    loss: str = "mse"

    def __init__(self, shots: int, queries: int, flip: bool = True, flip_probability: float | None = None):
        self.shots = _checks.count("shots", shots)
        self.queries = _checks.count("queries", queries)
        self.flip_probability = resolve_flip_probability(flip, flip_probability)
        self.flip = self.flip_probability > 0

    def sample(self, n_tasks: int, generator: torch.Generator | None = None) -> TaskBatch:
        """Draw ``n_tasks`` tasks; pass a seeded ``torch.Generator`` for reproducible draws."""
        _checks.count("n_tasks", n_tasks)
        if generator is None:
            generator = torch.Generator().manual_seed(int(torch.randint(2**62, ()).item()))
        return self.sample_tasks(n_tasks, generator).validate()

    def signs(self, n_tasks: int, generator: torch.Generator) -> Tensor:
        """Each task's side of the symmetry: −1 (flipped) with probability :attr:`flip_probability`,
        else +1. Shape ``(n_tasks,)``. Probability 0 draws nothing; 0.5 (``flip=True``) draws
        ``randint(0, 2)`` as it always has; any other value draws ``rand < p``."""
        p = self.flip_probability
        if p == 0:
            return torch.ones(n_tasks)
        if p == 0.5:
            return torch.randint(0, 2, (n_tasks,), generator=generator).float() * 2 - 1
        return 1 - 2 * (torch.rand(n_tasks, generator=generator) < p).float()

    @abc.abstractmethod
    def sample_tasks(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        """Draw ``n_tasks`` tasks using only ``generator`` for randomness (the extension point)."""

    def validation(self) -> "TaskFamily":
        """The family that tuning selects on: this one, whose validation tasks differ from its
        training and evaluation tasks by their random stream
        (:func:`~wormhole.seeding.stream_seed` purpose ``"validation"``). A family built on a
        finite set of images returns its validation split instead (images disjoint from the
        training and test images)."""
        return self

    def describe(self) -> dict:
        """The settings that define this family (saved with metrics)."""
        return {"family": type(self).__name__, "shots": self.shots, "queries": self.queries, "flip": self.flip,
                "flip_probability": self.flip_probability}
