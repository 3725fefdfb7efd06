"""Meta-learners: one small module per method, all sharing :class:`MetaLearner`'s functional core."""

from .ablations import LearnedScale, LearnedStep
from .alpha_maml import AlphaMAML
from .anil import ANIL, WormholeANIL
from .base import MetaLearner
from .difmaml import DifMAML, DifMAMLAgent
from .esmaml import ESMAML
from .maml import MAML
from .metasgd import MetaSGD, WormholeMetaSGD
from .treemaml import TreeMAML
from .wormhole import Wormhole

__all__ = ["MetaLearner", "MAML", "Wormhole", "ANIL", "WormholeANIL", "MetaSGD", "WormholeMetaSGD", "AlphaMAML",
           "ESMAML", "TreeMAML", "DifMAML", "DifMAMLAgent", "LearnedScale", "LearnedStep"]
