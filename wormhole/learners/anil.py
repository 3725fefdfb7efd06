"""ANIL ("almost no inner loop", Raghu et al. 2020): adapt only the head; the body is shared.

:class:`HeadOnly` is a mixin, so it combines with any learner: ``ANIL`` is MAML with it,
``WormholeANIL`` puts the wormhole's multiplier on a head-only inner loop.
"""

from __future__ import annotations

from .base import Params
from .maml import MAML
from .wormhole import Wormhole


def last_module_prefix(model) -> str:
    """The name of the module that owns the model's last parameter (its head)."""
    names = [n for n, _ in model.named_parameters()]
    if not names:
        raise ValueError("model must have parameters")
    return names[-1].rsplit(".", 1)[0] if "." in names[-1] else names[-1]


class HeadOnly:
    """Mixin: the inner loop adapts only the model parameters under ``head`` (default: the last
    module); fast weights a method adds beyond the model's (Wormhole's multiplier) still adapt."""

    def __init__(self, *args, head: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        head = head if head is not None else last_module_prefix(self.model)
        names = [n for n, _ in self.model.named_parameters()]
        self.head_names = tuple(n for n in names if n == head or n.startswith(head + "."))
        if not self.head_names:
            modules = sorted({n.rsplit(".", 1)[0] for n in names if "." in n})
            raise ValueError(f"head must name a submodule with parameters, one of {modules}; got {head!r}")
        self.head = head

    def initial_fast(self, meta: Params) -> Params:
        body = set(self.model_parameters(meta)) - set(self.head_names)
        return {k: v for k, v in super().initial_fast(meta).items() if k not in body}


class ANIL(HeadOnly, MAML):
    """MAML whose inner loop adapts only the head.

    Args:
        model: the network; its body is shared across tasks.
        head: the name of the submodule the inner loop adapts (default: the module of the last parameter).
        **kwargs: ``loss``, ``inner_lr``, ``steps``, ``first_order`` as for :class:`~wormhole.MAML`.

    Example::

        >>> import torch, wormhole as wh
        >>> learner = wh.ANIL(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
        >>> learner.head
        'layers.2'
        >>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
        >>> history = wh.meta_train(learner, tasks, iterations=5, meta_batch=8, seed=0, progress=False)
        >>> batch = tasks.sample(1, torch.Generator().manual_seed(1))
        >>> sorted(learner.adapt(batch.support_x[0], batch.support_y[0]))   # only the head adapts
        ['layers.2.bias', 'layers.2.weight']

    References:
        1. Raghu, A., Raghu, M., Bengio, S. & Vinyals, O. (2020). "Rapid Learning or Feature Reuse?
           Towards Understanding the Effectiveness of MAML." ICLR. https://arxiv.org/abs/1909.09157
    """


class WormholeANIL(HeadOnly, Wormhole):
    """Wormhole MAML with a head-only inner loop: the head and the multiplier adapt, the body does not.

    Arguments: ``head`` as for :class:`~wormhole.ANIL`, the rest as for :class:`~wormhole.Wormhole`.

    Example::

        >>> import torch, wormhole as wh
        >>> learner = wh.WormholeANIL(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
        >>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
        >>> history = wh.meta_train(learner, tasks, iterations=5, meta_batch=8, seed=0, progress=False)
        >>> batch = tasks.sample(1, torch.Generator().manual_seed(1))
        >>> sorted(learner.adapt(batch.support_x[0], batch.support_y[0]))
        ['layers.2.bias', 'layers.2.weight', 'wormhole']

    References:
        1. Chang, C.-J. T., Gao, Y. & Lou, B. (2022). "Wormhole MAML: Meta-Learning in Glued
           Parameter Space." arXiv preprint. https://arxiv.org/abs/2212.14094
        2. Raghu, A., Raghu, M., Bengio, S. & Vinyals, O. (2020). "Rapid Learning or Feature Reuse?
           Towards Understanding the Effectiveness of MAML." ICLR. https://arxiv.org/abs/1909.09157
    """
