"""ANIL ("almost no inner loop", Raghu et al. 2020): adapt only the head; the body is shared.

:class:`HeadOnly` is a mixin, so it combines with any learner: ``ANIL`` is MAML with it,
``WormholeANIL`` puts the wormhole's multiplier on a head-only inner loop.
"""

from __future__ import annotations

from .base import Params
from .maml import MAML
from .wormhole import WORMHOLE_KEY, Wormhole


def last_module_prefix(model) -> str:
    """The name of the module that owns the model's last parameter (its head)."""
    names = [n for n, _ in model.named_parameters()]
    if not names:
        raise ValueError("model must have parameters")
    return names[-1].rsplit(".", 1)[0] if "." in names[-1] else names[-1]


class HeadOnly:
    """Mixin: the inner loop adapts only the parameters under ``head`` (default: the last module)."""

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
        fast = super().initial_fast(meta)
        return {k: v for k, v in fast.items() if k in self.head_names or k == WORMHOLE_KEY}

    def describe(self) -> dict:
        return {**super().describe(), "head": self.head}


class ANIL(HeadOnly, MAML):
    """MAML whose inner loop adapts only the head (``head=`` a submodule name; default the last one)."""


class WormholeANIL(HeadOnly, Wormhole):
    """Wormhole MAML with a head-only inner loop: the head and the multiplier adapt, the body does not."""
