"""wormhole: Wormhole MAML and its relatives, vectorised with torch.func.

>>> import wormhole as wh
>>> learner = wh.Wormhole(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
>>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
>>> history = wh.meta_train(learner, tasks, iterations=100, meta_batch=25, meta_lr=1e-3, seed=0)
"""

from . import (book, checkpoints, devices, diagnostics, distributed, experiments, expressivity, losses, models, optim, plotting, report, saving,
               seeding, stats, tasks, theory, tuning)
from .devices import resolve_device
from .evaluation import Evaluation, evaluate
from .learners import (ANIL, ESMAML, MAML, AlphaMAML, DifMAML, DifMAMLAgent, LearnedScale, LearnedStep, MetaLearner, MetaSGD,
                       TreeMAML, Wormhole, WormholeANIL, WormholeMetaSGD)
from .saving import load, save
from .training import History, Run, meta_train, meta_train_seeds, meta_train_sweep

__version__ = "0.1.0"

__all__ = ["MAML", "Wormhole", "MetaLearner", "ANIL", "WormholeANIL", "MetaSGD", "WormholeMetaSGD", "AlphaMAML",
           "ESMAML", "TreeMAML", "DifMAML", "DifMAMLAgent", "LearnedScale", "LearnedStep", "distributed", "meta_train", "meta_train_seeds", "meta_train_sweep", "evaluate", "Evaluation",
           "History", "Run", "resolve_device", "book", "checkpoints", "devices", "diagnostics", "experiments", "expressivity", "losses", "models",
           "optim", "plotting", "report", "save", "load", "saving", "seeding", "stats", "tasks", "theory", "tuning"]
