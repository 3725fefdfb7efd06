"""The built-in models' pure forwards (wormhole.functional): equal to the modules, and to functional_call
inside every learner's meta-gradient."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import vmap

import wormhole as wh
import wormhole.functional as fn
from test_every_learner import FACTORIES


def _models():
    torch.manual_seed(0)
    return {
        "Logistic": (wh.models.Logistic(), torch.randn(7, 1)),
        "MLP": (wh.models.MLP(1, (6, 5), 2), torch.randn(7, 1)),
        "MLP-images": (wh.models.MLP(784, (8,), 3), torch.randn(7, 1, 28, 28)),
        "ConvNet": (wh.models.ConvNet(3, hidden=8), torch.randn(5, 1, 28, 28)),
        "ConvNet-flat": (wh.models.ConvNet(2, hidden=4), torch.randn(5, 784)),
        "ConvNet-no-norm": (wh.models.ConvNet(2, hidden=8, norm="none"), torch.randn(5, 1, 28, 28)),
        "ConvNet-rgb": (wh.models.ConvNet(2, hidden=8, in_channels=3), torch.randn(5, 3, 28, 28)),
        "Point": (wh.models.Point(4, torch.randn(4)), torch.randn(7, 3)),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_functional_forward_equals_the_module(name):
    model, x = _models()[name]
    for p in model.parameters():  # away from the default initialisation (GroupNorm's 1 and 0)
        p.data += 0.1 * torch.randn_like(p)
    params = dict(model.named_parameters())
    assert fn.uses_functional_forward(model)
    torch.testing.assert_close(model.functional_forward(params, x), model(x), atol=1e-5, rtol=1e-5)
    scales = torch.linspace(-1.0, 2.0, model.n_layers)
    torch.testing.assert_close(fn.forward(model, params, x, scales), model(x, layer_scales=scales),
                               atol=1e-5, rtol=1e-5)


def test_a_subclass_that_overrides_forward_goes_through_functional_call():
    class Shifted(wh.models.MLP):
        def forward(self, x, layer_scales=None):
            return super().forward(x, layer_scales) + 1.0

    model = Shifted(1, (4,), 1)
    x = torch.randn(3, 1)
    assert not fn.uses_functional_forward(model)
    torch.testing.assert_close(fn.forward(model, dict(model.named_parameters()), x), model(x))
    assert not fn.uses_functional_forward(torch.nn.Linear(1, 1))


def test_model_capabilities_are_decided_by_what_a_class_defines():
    class Shifted(wh.models.MLP):
        def forward(self, x, layer_scales=None):
            return super().forward(x, layer_scales) + 1.0

    class Renamed(wh.models.MLP):  # defines none of the three: inherits both capabilities
        pass

    class FunctionalOnly(wh.models.MLP):  # a second form without the first: not trusted
        def functional_forward(self, params, x, layer_scales=None):
            return super().functional_forward(params, x, layer_scales)

    class Declared(Shifted):
        functional = True  # declared in the body: kept (here wrongly, which the user then owns)

    assert wh.models.MLP.functional and wh.models.MLP.dense
    assert wh.models.ConvNet.functional and not wh.models.ConvNet.dense
    assert Renamed.functional and Renamed.dense
    assert not (Shifted.functional or Shifted.dense or FunctionalOnly.functional or FunctionalOnly.dense)
    assert Declared.functional and not Declared.dense
    from wormhole import backprop
    assert backprop.dense_layers(Renamed(1, (4,), 1)) == wh.models.MLP(1, (4,), 1).dense_layers()
    assert backprop.dense_layers(Shifted(1, (4,), 1)) is None


@pytest.mark.parametrize("channels,out,padding", [(1, 8, 1), (3, 4, 1), (4, 6, 0)])
def test_matmul_convolution_equals_conv2d(channels, out, padding):
    torch.manual_seed(0)
    x, w, b = torch.randn(5, channels, 9, 7), torch.randn(out, channels, 3, 3), torch.randn(out)
    expected = F.conv2d(x, w, b, padding=padding)
    torch.testing.assert_close(fn.conv2d_matmul(x, w, b, padding), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fn.conv2d(x, w, b, padding), expected, atol=1e-5, rtol=1e-5)
    # per-task weights under vmap: a batched product, still the convolution of each task
    xs, ws, bs = torch.randn(3, 5, channels, 9, 7), torch.randn(3, out, channels, 3, 3), torch.randn(3, out)
    batched = vmap(lambda x, w, b: fn.conv2d_matmul(x, w, b, padding))(xs, ws, bs)
    for i in range(3):
        torch.testing.assert_close(batched[i], F.conv2d(xs[i], ws[i], bs[i], padding=padding), atol=1e-5, rtol=1e-5)


def test_matmul_convolution_has_the_second_derivatives_of_conv2d():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradgradcheck(lambda x, w, b: fn.conv2d_matmul(x, w, b, 1), (x, w, b))


def _meta_gradient(learner, batch):
    params = [p for p in learner.parameters() if p.requires_grad]
    grads = torch.autograd.grad(learner.meta_loss(batch), params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def _assert_relative(a, b, tolerance=1e-6):
    for x, y in zip(a, b):
        assert float((x - y).norm()) <= tolerance * max(float(y.norm()), 1e-12)


def _through_functional_call(monkeypatch, compute):
    """``compute()`` with every model forward routed through ``functional_call``, as before the pure forwards."""
    with monkeypatch.context() as m:
        m.setattr(fn, "uses_functional_forward", lambda model: False)
        return compute()


@pytest.mark.parametrize("name", FACTORIES)
def test_every_learners_meta_gradient_is_that_of_functional_call(name, monkeypatch):
    torch.manual_seed(0)
    learner = FACTORIES[name](wh.models.MLP(1, (6,), 1), loss="bce", inner_lr=0.3, steps=2).double()
    batch = wh.tasks.Threshold(shots=5, queries=7).sample(6, torch.Generator().manual_seed(0))
    batch = wh.tasks.TaskBatch(*(t.double() for t in batch.tensors()), batch.sign)
    pure = _meta_gradient(learner, batch)
    _assert_relative(pure, _through_functional_call(monkeypatch, lambda: _meta_gradient(learner, batch)))


@pytest.mark.parametrize("placement,granularity", [("output", "scalar"), ("parameters", "scalar"), ("output", "layer")])
def test_the_convnet_meta_gradient_is_that_of_functional_call(placement, granularity, monkeypatch):
    torch.manual_seed(0)
    model = wh.models.ConvNet(1, hidden=12).double()  # 12 >= 1·3·3 channels: the first convolution is a matrix product
    for p in model.parameters():
        p.data += 0.1 * torch.randn_like(p)
    assert model.convs[0].weight[0].numel() <= model.convs[0].out_channels
    batch = wh.tasks.MNISTPairs(shots=2, queries=2).sample(3, torch.Generator().manual_seed(0))
    batch = wh.tasks.TaskBatch(*(t.double() for t in batch.tensors()), batch.sign)
    learner = wh.Wormhole(model, loss="bce", inner_lr=0.3, steps=2, placement=placement, granularity=granularity,
                          wormhole_init=0.7)
    reference = _through_functional_call(monkeypatch, lambda: _meta_gradient(learner, batch))
    _assert_relative(_meta_gradient(learner, batch), reference)
    expected = _through_functional_call(monkeypatch, lambda: learner.meta_loss(batch))
    for vectorize in (True, False):  # both paths of the pure forward
        torch.testing.assert_close(learner.meta_loss(batch, vectorize=vectorize), expected, rtol=1e-10, atol=0)
