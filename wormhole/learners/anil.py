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
        **kwargs: as for :class:`~wormhole.learners.base.MetaLearner`.

    Example:
        >>> learner = ANIL(MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)   # adapts layers.2 only

    References:
        Raghu, Raghu, Bengio & Vinyals (2020), *Rapid Learning or Feature Reuse? Towards
        Understanding the Effectiveness of MAML*.
    """


class WormholeANIL(HeadOnly, Wormhole):
    """Wormhole MAML with a head-only inner loop: the head and the multiplier adapt, the body does not.

    Arguments: ``head`` as for :class:`ANIL`, the rest as for :class:`~wormhole.Wormhole`.

    Example:
        >>> learner = WormholeANIL(MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
    """
