import pytest
import torch

import wormhole as wh


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def tiny_mlp(in_features=1, out_features=1):
    torch.manual_seed(0)
    return wh.models.MLP(in_features, (6,), out_features)


def make_learner(kind, model=None, **kw):
    model = model if model is not None else tiny_mlp()
    defaults = {"loss": "bce", "inner_lr": 0.3, "steps": 2}
    defaults.update(kw)
    return wh.MAML(model, **defaults) if kind == "maml" else wh.Wormhole(model, **defaults)
