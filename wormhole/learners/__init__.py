"""Meta-learners: one small module per method, all sharing :class:`MetaLearner`'s functional core."""

from .base import MetaLearner
from .maml import MAML
from .wormhole import Wormhole

__all__ = ["MetaLearner", "MAML", "Wormhole"]
