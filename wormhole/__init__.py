"""wormhole: Wormhole MAML and its relatives, vectorised with torch.func.

>>> import wormhole as wh
>>> learner = wh.Wormhole(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
>>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
>>> history = wh.meta_train(learner, tasks, iterations=100, meta_batch=25, meta_lr=1e-3, seed=0)
"""

import importlib

from . import (checkpoints, devices, diagnostics, distributed, losses, models, optim, saving, seeding, stats, tasks)
from .devices import resolve_device
from .evaluation import Evaluation, evaluate
from .learners import (ANIL, ESMAML, MAML, AlphaMAML, DifMAML, DifMAMLAgent, LearnedScale, LearnedStep, MetaLearner, MetaSGD,
                       TreeMAML, Wormhole, WormholeANIL, WormholeMetaSGD)
from .saving import load, save
from .training import History, Run, meta_train, meta_train_seeds, meta_train_sweep

__version__ = "0.1.0"

#: modules that load on first use (``wh.plotting`` ...), so that ``import wormhole`` stays lean:
#: the book's layer (figures, tables, the results page, the chapters' helpers) and the protocol built on it
LAZY_MODULES = ("anchor", "book", "display", "experiments", "expressivity", "fight", "margins", "plotting", "report",
                "theory", "tuning")


def __getattr__(name):
    if name == "fair_fight":   # the one-call fair fight (wormhole.fight), loaded on first use
        return importlib.import_module(".fight", __name__).fair_fight
    if name in LAZY_MODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(LAZY_MODULES) | {"fair_fight"})

__all__ = ["MAML", "Wormhole", "MetaLearner", "ANIL", "WormholeANIL", "MetaSGD", "WormholeMetaSGD", "AlphaMAML",
           "ESMAML", "TreeMAML", "DifMAML", "DifMAMLAgent", "LearnedScale", "LearnedStep", "distributed", "meta_train", "meta_train_seeds", "meta_train_sweep", "evaluate", "Evaluation",
           "History", "Run", "resolve_device", "anchor", "book", "checkpoints", "devices", "diagnostics", "experiments", "expressivity", "losses", "models",
           "optim", "plotting", "report", "fight", "fair_fight", "margins", "save", "load", "saving", "seeding", "stats", "tasks", "theory", "tuning", "display"]
