"""The two ablations that isolate the wormhole: "the wormhole helps" needs Wormhole MAML to beat
MAML *and* both of these, in the same unit (:func:`wormhole.stats.verdict_all`).

* :class:`LearnedScale`: Wormhole MAML with α_w = 0. The output scale w₀ is meta-learned, but the
  inner loop never moves it, so there is no shortcut through w = 0: what is left is a learned
  temperature (for logits) or amplitude (for regression).
* :class:`LearnedStep`: MAML with one meta-learned scalar inner rate α, the simplest learned step
  size (Meta-SGD learns one per parameter entry, :class:`~wormhole.MetaSGD`).

If Wormhole MAML wins only where one of these wins as well, a learned scale or step explains the
gain as well as the wormhole does.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Params
from .maml import MAML
from .wormhole import Wormhole

STEP_KEY = "log_inner_lr"


class LearnedScale(Wormhole):
    """Ablation: Wormhole MAML with the multiplier frozen in the inner loop (α_w = 0).

    The prediction is ``w₀ · f(x; θ)`` with w₀ meta-learned and never adapted, so a task cannot
    flip the sign of w: the same number of meta-parameters as Wormhole MAML, without the wormhole.

    Args:
        model: the network f.
        wormhole_init: the initial value of the meta-learned scale w₀.
        placement, granularity: as for :class:`~wormhole.Wormhole`.
        **kwargs: ``loss``, ``inner_lr``, ``steps``, ``first_order`` as for
            :class:`~wormhole.learners.base.MetaLearner`.

    ``LearnedScale(model, wormhole_init=w)`` is ``Wormhole(model, wormhole_lr=0.0, wormhole_init=w)``
    under its own name (``describe()["method"] == "LearnedScale"``).

    Example::

        >>> import wormhole as wh
        >>> learner = wh.LearnedScale(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4, wormhole_init=0.5)
        >>> learner.wormhole_lr, learner.describe()["method"]
        (0.0, 'LearnedScale')
    """

    sweepable = ("inner_lr", "wormhole_init")

    #: arguments this class sets itself (so a copy with another model must not pass them)
    fixed_arguments = ("wormhole_lr", "learn_wormhole_lr")

    def __init__(self, model: nn.Module, *, wormhole_init: float = 1.0, placement: str = "output",
                 granularity: str = "scalar", **kwargs):
        for name in ("wormhole_lr", "learn_wormhole_lr"):
            if name in kwargs:
                raise ValueError(f"{name} is fixed in LearnedScale (α_w = 0, not learned); use wormhole.Wormhole "
                                 f"to set it, got {name}={kwargs[name]!r}")
        super().__init__(model, wormhole_lr=0.0, wormhole_init=wormhole_init, placement=placement,
                         granularity=granularity, learn_wormhole_lr=False, **kwargs)


class LearnedStep(MAML):
    """Ablation: MAML with one meta-learned scalar inner rate α (initialised at ``inner_lr``).

    α is stored as its logarithm (meta-parameter ``log_inner_lr``), so it stays positive and
    Adam moves it by a similar *fraction* whatever its scale, which suits grids of α that span
    decades. :attr:`effective_inner_lr` gives its current value. Arguments as for
    :class:`~wormhole.learners.base.MetaLearner`.

    Example::

        >>> import wormhole as wh
        >>> learner = wh.LearnedStep(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
        >>> round(learner.effective_inner_lr, 6)
        0.4
    """

    def __init__(self, model: nn.Module, **kwargs):
        super().__init__(model, **kwargs)
        self.log_inner_lr = nn.Parameter(torch.tensor(math.log(self.inner_lr)))

    @property
    def effective_inner_lr(self) -> float:
        """The inner rate α the inner loop steps with now (the meta-learned value)."""
        return float(self.log_inner_lr.detach().exp())

    def reset_method_parameters(self) -> None:
        super().reset_method_parameters()
        with torch.no_grad():
            self.log_inner_lr.fill_(math.log(self.inner_lr))

    def inner_rates(self, meta: Params) -> dict:
        alpha = meta[STEP_KEY].exp()
        return {k: alpha for k in self.initial_fast(meta)}
