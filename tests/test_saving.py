"""wh.save / wh.load: every learner the package exports survives a round trip through a file that
``torch.load(weights_only=True)`` reads, with the same meta-parameters and the same meta-loss."""

import os
import pickle

import pytest
import torch

import wormhole as wh
from test_every_learner import FACTORIES, _batch


def _perturbed(learner, seed=0):
    """``learner`` with every parameter and floating buffer moved off its initial value, so a
    load that rebuilt the learner but dropped the state would be caught."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in learner.state_dict(keep_vars=True).items():
            if tensor.is_floating_point() and name != "combination":  # Dif-MAML's graph stays doubly stochastic
                tensor.add_(0.1 * torch.randn(tensor.shape, generator=gen, dtype=tensor.dtype))
    return learner


def _assert_same_learner(saved, loaded, batch):
    assert type(loaded) is type(saved) and type(loaded.model) is type(saved.model)
    a, b = saved.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    assert loaded.describe() == saved.describe()
    assert torch.equal(saved.meta_loss(batch), loaded.meta_loss(batch))


@pytest.mark.parametrize("name", FACTORIES)
def test_every_learner_round_trips(name, tmp_path):
    learner = _perturbed(FACTORIES[name](wh.models.MLP(1, (6,), 1), loss="bce", inner_lr=0.3, steps=2))
    path = tmp_path / f"{name}.pt"
    wh.save(learner, path)
    loaded = wh.load(path)
    _assert_same_learner(learner, loaded, _batch())
    assert [p.requires_grad for p in loaded.parameters()] == [p.requires_grad for p in learner.parameters()]


def test_every_exported_learner_is_saved_by_the_round_trip_test():
    assert set(wh.learners.__all__) <= {name.split("-")[0] for name in FACTORIES}


@pytest.mark.parametrize("model", [
    lambda: wh.models.Logistic(),
    lambda: wh.models.MLP(1, (5, 3), 1),
    lambda: wh.models.ConvNet(3, hidden=4, norm="none"),
    lambda: wh.models.ConvNet(2, hidden=8),
    lambda: wh.models.Point(3),
], ids=["Logistic", "MLP", "ConvNet-none", "ConvNet-group", "Point"])
def test_every_model_is_rebuilt(model, tmp_path):
    learner = _perturbed(wh.Wormhole(model(), loss="mse", inner_lr=0.1, wormhole_init=0.5, granularity="layer"))
    wh.save(learner, tmp_path / "m.pt")
    loaded = wh.load(tmp_path / "m.pt")
    assert loaded.model.state_dict().keys() == learner.model.state_dict().keys()
    for k, v in learner.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    x = torch.rand(4, 1, 28, 28) if isinstance(learner.model, wh.models.ConvNet) else torch.rand(4, 1)
    y = learner.model(x).detach() + 1
    adapted, same = learner.adapt(x, y), loaded.adapt(x, y)
    for k in adapted:
        assert torch.equal(adapted[k], same[k]), k
    assert torch.equal(learner.predict(adapted, x), loaded.predict(same, x))


def test_settings_dtype_and_a_loss_function_survive(tmp_path):
    learner = wh.AlphaMAML(wh.models.Point(2), loss=wh.losses.half_squared_distance, inner_lr=0.2, steps=3,
                           inner_hyper_lr=0.01).double()
    wh.save(learner, tmp_path / "a.pt")
    loaded = wh.load(tmp_path / "a.pt")
    assert loaded.loss_fn is wh.losses.half_squared_distance and loaded.steps == 3 and loaded.inner_hyper_lr == 0.01
    assert all(p.dtype == torch.float64 for p in loaded.parameters())
    graph = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
    dif = wh.DifMAML(wh.models.MLP(1, (4,), 1), loss="bce", agents=3, graph=graph)
    wh.save(dif, tmp_path / "d.pt")
    assert torch.equal(wh.load(tmp_path / "d.pt").combination, dif.combination)


def test_the_file_holds_only_plain_data(tmp_path):
    learner = FACTORIES["WormholeMetaSGD"](wh.models.MLP(1, (6,), 1), loss="bce", inner_lr=0.3)
    wh.save(learner, tmp_path / "w.pt")
    record = torch.load(tmp_path / "w.pt", weights_only=True)  # no pickled classes or functions
    assert record["format"] == wh.saving.FORMAT and record["format_version"] == wh.saving.FORMAT_VERSION
    assert record["package_version"] == wh.__version__ and record["method"] == "WormholeMetaSGD"
    assert record["model"] == {"class": "MLP", "arguments": {"in_features": 1, "hidden": [6], "out_features": 1}}

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (bool, int, float, str, torch.Tensor))

    assert plain(record) and type(record["state_dict"]) is dict
    assert not list(tmp_path.glob("*.tmp-*"))  # written atomically: nothing left beside it


def test_a_loaded_learner_trains_on(tmp_path):
    tasks = wh.tasks.Threshold(shots=5, queries=7)
    learner = wh.Wormhole(wh.models.MLP(1, (8,), 1), loss="bce", inner_lr=0.3)
    wh.meta_train(learner, tasks, iterations=3, meta_batch=4, seed=0, progress=False, device="cpu")
    wh.save(learner, tmp_path / "w.pt")
    loaded = wh.load(tmp_path / "w.pt")
    before = [p.detach().clone() for p in loaded.parameters()]
    loaded.meta_loss(_batch()).backward()
    assert all(p.grad is not None for p in loaded.parameters() if p.requires_grad)
    assert all(torch.equal(a, b) for a, b in zip(before, learner.parameters()))


class FourierNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x, layer_scales=None):
        return self.linear(x)


class MyMAML(wh.MAML):
    pass


@pytest.mark.parametrize("make, words", [
    (lambda: wh.MAML(FourierNet(), loss="mse"), "wormhole.models"),
    (lambda: wh.MAML(wh.models.MLP(1, (4,), 1), loss=lambda p, t: ((p - t) ** 2).mean()), "loss"),
    (lambda: MyMAML(wh.models.MLP(1, (4,), 1), loss="mse"), "MyMAML"),
    (lambda: wh.models.MLP(1, (4,), 1), "meta-learner"),
])
def test_what_cannot_be_rebuilt_is_refused_at_save_time(make, words, tmp_path):
    with pytest.raises(ValueError, match=words):
        wh.save(make(), tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_model_changed_after_construction_is_refused(tmp_path):
    learner = wh.MAML(wh.models.MLP(1, (4,), 1), loss="mse")
    learner.model.layers[1] = torch.nn.Linear(4, 2)  # out_features still says 1
    with pytest.raises(ValueError, match="other parameters"):
        wh.save(learner, tmp_path / "x.pt")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bad_and_foreign_files_are_refused_by_name(tmp_path):
    learner = wh.MAML(wh.models.MLP(1, (4,), 1), loss="mse")
    good = tmp_path / "good.pt"
    wh.save(learner, good)
    record = torch.load(good, weights_only=True)
    cases = {
        "garbage.pt": lambda p: p.write_bytes(b"not a torch file"),
        "truncated.pt": lambda p: p.write_bytes(good.read_bytes()[:100]),
        "tensor.pt": lambda p: torch.save(torch.zeros(3), p),
        "state_dict.pt": lambda p: torch.save(learner.state_dict(), p),
        "checkpoint.pt": lambda p: torch.save({"version": 3, "meta": {}}, p),
        "pickle.pt": lambda p: torch.save({"format": wh.saving.FORMAT, "model": FourierNet()}, p),
        "newer.pt": lambda p: torch.save({**record, "format_version": wh.saving.FORMAT_VERSION + 1}, p),
        "incomplete.pt": lambda p: torch.save({k: v for k, v in record.items() if k != "state_dict"}, p),
        "method.pt": lambda p: torch.save({**record, "method": "os.system"}, p),
        "model.pt": lambda p: torch.save({**record, "model": {"class": "FourierNet", "arguments": {}}}, p),
        "dtype.pt": lambda p: torch.save({**record, "dtype": "load"}, p),
        "state.pt": lambda p: torch.save({**record, "state_dict": {"model.layers.0.weight": torch.zeros(2, 2)}}, p),
        "pickled.pt": lambda p: p.write_bytes(pickle.dumps({"format": wh.saving.FORMAT})),
    }
    for name, write in cases.items():
        path = tmp_path / name
        write(path)
        with pytest.raises(ValueError) as err:
            wh.load(path)
        assert str(path) in str(err.value), f"{name}: {err.value}"
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        wh.load(tmp_path / "missing.pt")


def test_load_moves_to_a_device_and_save_accepts_str_paths(tmp_path):
    learner = wh.MAML(wh.models.MLP(1, (4,), 1), loss="mse")
    path = os.path.join(str(tmp_path), "m.pt")
    wh.save(learner, path)
    assert next(wh.load(path, device=torch.device("cpu")).parameters()).device.type == "cpu"
