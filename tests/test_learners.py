"""The learners' gradients: vectorised == per-task loop == finite differences."""

import copy

import pytest
import torch

import wormhole as wh
from conftest import make_learner, tiny_mlp

CASES = [(kind, fo) for kind in ("maml", "wormhole") for fo in (False, True)]


def _grads(learner, batch, vectorize):
    learner.zero_grad()
    learner.meta_loss(batch, vectorize=vectorize).backward()
    return {k: p.grad.clone() for k, p in learner.named_parameters()}


@pytest.mark.parametrize("kind,first_order", CASES)
def test_vectorised_meta_gradient_equals_loop(kind, first_order, gen):
    learner = make_learner(kind, first_order=first_order)
    batch = wh.tasks.Threshold(shots=5, queries=7).sample(6, gen)
    a, b = _grads(learner, batch, True), _grads(learner, batch, False)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind,placement", [("maml", None), ("wormhole", "output"), ("wormhole", "parameters")])
def test_second_order_meta_gradient_matches_finite_differences(kind, placement, gen):
    extra = {"placement": placement} if placement else {}
    learner = make_learner(kind, loss="mse", inner_lr=0.1, **extra).double()
    batch = wh.tasks.WaveletRegression(shots=4, queries=4).sample(3, gen)
    batch = wh.tasks.TaskBatch(*(t.double() for t in batch.tensors()), batch.sign)
    analytic = _grads(learner, batch, True)
    eps = 1e-6
    for name, p in learner.named_parameters():
        flat = p.data.view(-1)
        for i in range(min(flat.numel(), 4)):
            old = flat[i].item()
            flat[i] = old + eps
            up = learner.meta_loss(batch).item()
            flat[i] = old - eps
            down = learner.meta_loss(batch).item()
            flat[i] = old
            assert abs((up - down) / (2 * eps) - analytic[name].view(-1)[i].item()) < 1e-6, name


def test_first_order_differs_from_second_order(gen):
    batch = wh.tasks.Threshold().sample(4, gen)
    g2 = _grads(make_learner("maml"), batch, True)
    g1 = _grads(make_learner("maml", first_order=True), batch, True)
    assert any((g1[k] - g2[k]).abs().max() > 1e-6 for k in g1)


def test_wormhole_with_frozen_multiplier_equals_maml(gen):
    batch = wh.tasks.Threshold().sample(5, gen)
    maml = make_learner("maml")
    worm = make_learner("wormhole", wormhole_lr=0.0, wormhole_init=1.0)
    assert torch.equal(maml.meta_loss(batch), worm.meta_loss(batch))
    gm, gw = _grads(maml, batch, True), _grads(worm, batch, True)
    for k in gm:
        assert torch.equal(gm[k], gw[k])


@pytest.mark.parametrize("kind", ["maml", "wormhole"])
def test_one_inner_step_lowers_support_loss(kind, gen):
    learner = make_learner(kind, inner_lr=0.05, steps=1)
    batch = wh.tasks.Threshold(shots=10).sample(8, gen)
    for i in range(batch.n_tasks):
        x, y = batch.support_x[i], batch.support_y[i]
        before = learner.loss_fn(learner.predict(learner.initial_fast(learner.meta_parameters()), x), y)
        after = learner.loss_fn(learner.predict(learner.adapt(x, y), x), y)
        assert after < before


def test_adapt_moves_the_multiplier_and_predict_uses_it(gen):
    learner = make_learner("wormhole", steps=1)
    batch = wh.tasks.Threshold().sample(1, gen)
    fast = learner.adapt(batch.support_x[0], batch.support_y[0])
    assert "wormhole" in fast and fast["wormhole"].item() != 1.0
    base = {k: v for k, v in fast.items() if k != "wormhole"}
    out = learner.predict(fast, batch.query_x[0])
    torch.testing.assert_close(out, fast["wormhole"] * torch.func.functional_call(learner.model, base, (batch.query_x[0],)))


@pytest.mark.parametrize("granularity,n", [("layer", 2), ("unit", 3)])
def test_granularities_add_one_multiplier_per_layer_or_unit(granularity, n, gen):
    learner = wh.Wormhole(wh.models.MLP(1, (4,), 3), loss="mse", inner_lr=0.1, granularity=granularity)
    assert learner.wormhole_init.shape == (n,)
    batch = wh.tasks.WaveletRegression().sample(2, gen)
    batch = batch._replace(support_y=batch.support_y.expand(-1, -1, 3), query_y=batch.query_y.expand(-1, -1, 3))
    a, b = _grads(learner, batch, True), _grads(learner, batch, False)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)


def test_layer_scales_of_last_layer_equal_output_placement(gen):
    model = tiny_mlp()
    out = wh.Wormhole(copy.deepcopy(model), loss="bce", inner_lr=0.3, wormhole_init=-0.7)
    layer = wh.Wormhole(copy.deepcopy(model), loss="bce", inner_lr=0.3, granularity="layer")
    with torch.no_grad():
        layer.wormhole_init.copy_(torch.tensor([1.0, -0.7]))
    x = torch.randn(5, 1)
    torch.testing.assert_close(out.predict(out.initial_fast(out.meta_parameters()), x),
                               layer.predict(layer.initial_fast(layer.meta_parameters()), x))


def test_learned_wormhole_rate_gets_a_meta_gradient(gen):
    learner = make_learner("wormhole", learn_wormhole_lr=True)
    learner.meta_loss(wh.tasks.Threshold().sample(4, gen)).backward()
    assert learner.log_wormhole_lr.grad is not None and learner.log_wormhole_lr.grad.abs() > 0


def test_conv_net_under_vmap_matches_loop(gen):
    torch.manual_seed(0)
    learner = wh.MAML(wh.models.ConvNet(2, hidden=4), loss="ce", inner_lr=0.1, steps=1).double()
    batch = wh.tasks.MNISTWays(ways=2, shots=1, queries=2).sample(2, gen)
    batch = batch._replace(support_x=batch.support_x.double(), query_x=batch.query_x.double())
    a, b = _grads(learner, batch, True), _grads(learner, batch, False)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-9, rtol=1e-7)
