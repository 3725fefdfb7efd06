"""Each related method's defining property, on a small case."""

import numpy as np
import pytest
import torch

import wormhole as wh
from conftest import tiny_mlp


def _batch(n=6, seed=0, **kw):
    return wh.tasks.Threshold(**kw).sample(n, torch.Generator().manual_seed(seed))


def _grads(learner, batch, vectorize=True):
    learner.zero_grad()
    learner.meta_loss(batch, vectorize=vectorize).backward()
    return {k: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for k, p in learner.named_parameters()}


def test_anil_leaves_the_body_unchanged():
    learner = wh.ANIL(tiny_mlp(), loss="bce", inner_lr=0.5, steps=3)
    b = _batch()
    fast = learner.adapt(b.support_x[0], b.support_y[0])
    assert set(fast) == {"layers.1.weight", "layers.1.bias"}
    assert not torch.equal(fast["layers.1.weight"], learner.model.layers[1].weight)
    out = learner.predict(fast, b.query_x[0])
    body = torch.relu(learner.model.layers[0](b.query_x[0]))
    torch.testing.assert_close(out, body @ fast["layers.1.weight"].T + fast["layers.1.bias"])


def test_anil_vectorised_equals_loop_and_wormhole_anil_adapts_the_multiplier():
    for learner in (wh.ANIL(tiny_mlp(), loss="bce", inner_lr=0.3), wh.WormholeANIL(tiny_mlp(), loss="bce", inner_lr=0.3)):
        a, b = _grads(learner, _batch(), True), _grads(learner, _batch(), False)
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)
    w = wh.WormholeANIL(tiny_mlp(), loss="bce", inner_lr=0.3)
    assert set(w.adapt(_batch().support_x[0], _batch().support_y[0])) == {"layers.1.weight", "layers.1.bias", "wormhole"}


def test_metasgd_with_equal_rates_equals_maml():
    b = _batch()
    maml, msgd = wh.MAML(tiny_mlp(), loss="bce", inner_lr=0.3), wh.MetaSGD(tiny_mlp(), loss="bce", inner_lr=0.3)
    assert torch.equal(maml.meta_loss(b), msgd.meta_loss(b))
    gm, gs = _grads(maml, b), _grads(msgd, b)
    for k in gm:
        torch.testing.assert_close(gm[k], gs[k], atol=1e-7, rtol=0)
    assert any(gs[k].abs().sum() > 0 for k in gs if k.startswith("rates."))


def test_alpha_maml_inner_rate_moves_with_the_gradient_inner_product():
    tasks = wh.tasks.Threshold(flip=False)
    learner = wh.AlphaMAML(tiny_mlp(), loss="bce", inner_lr=0.05, inner_hyper_lr=1e-2)
    # the batch and initialisation that meta_train(seed=0) will use
    learner.reset_parameters(wh.seeding.stream_seed(0, "init"))
    b = tasks.sample(8, torch.Generator().manual_seed(wh.seeding.stream_seed(0, "tasks")))
    dots = []
    for i in range(8):
        meta = learner.meta_parameters()
        fast = learner.initial_fast(meta)
        gs = torch.autograd.grad(learner.support_loss(meta, fast, b.support_x[i], b.support_y[i]), list(fast.values()))
        adapted = learner.adapt(b.support_x[i], b.support_y[i])
        gq = torch.autograd.grad(learner.loss_fn(learner.predict(adapted, b.query_x[i]), b.query_y[i]),
                                 list(adapted.values()))
        dots.append(sum((a * c).sum() for a, c in zip(gq, gs)).item())
    history = wh.meta_train(learner, tasks, iterations=1, meta_batch=8, meta_lr=0.01, seed=0, progress=False)
    assert {"inner_lr", "meta_lr"} <= history.rates.keys()
    moved = history.rates["inner_lr"][0] - 0.05
    assert moved != 0 and np.sign(moved) == np.sign(np.mean(dots))


def test_es_maml_estimate_approaches_the_exact_gradient():
    torch.manual_seed(0)
    model = wh.models.Logistic()
    es = wh.ESMAML(model, loss="bce", inner_lr=0.5, n_samples=400, sigma=1e-3).double()
    b = _batch(16)
    b = wh.tasks.TaskBatch(*(t.double() for t in b.tensors()), b.sign)
    exact = wh.MAML(es.model, loss="bce", inner_lr=0.5, first_order=False).double()
    exact.meta_loss(b).backward()
    g_exact = torch.cat([p.grad.flatten() for p in exact.parameters()])
    meta = {k: v.detach() for k, v in es.meta_parameters().items()}
    cos = []
    for n in (4, 400):
        es.n_samples = n
        g = es.es_gradient(meta, *b.tensors(), total_tasks=16, generator=torch.Generator().manual_seed(1))
        g = torch.cat([g[k].flatten() for k in meta])
        cos.append(torch.nn.functional.cosine_similarity(g, g_exact, dim=0).item())
    assert cos[1] > 0.9, cos  # at n = 400 antithetic pairs
    assert cos[1] > cos[0] - 1e-9


def test_es_maml_zero_order_inner_step_lowers_the_support_loss():
    es = wh.ESMAML(wh.models.Logistic(), loss="bce", inner_lr=0.5, inner="es", inner_samples=64, sigma=1e-3)
    b = _batch(4)
    for i in range(4):
        before = es.loss_fn(es.predict(es.initial_fast(es.meta_parameters()), b.support_x[i]), b.support_y[i])
        after = es.loss_fn(es.predict(es.adapt(b.support_x[i], b.support_y[i]), b.support_x[i]), b.support_y[i])
        assert after < before


def test_treemaml_separates_the_two_directions():
    learner = wh.TreeMAML(wh.models.Logistic(), loss="bce", inner_lr=0.5)
    with torch.no_grad():
        learner.model.linear.weight.fill_(1.0)
    b = _batch(20, t_max=0.2)
    meta = learner.meta_parameters()
    fast = {k: v.expand(20, *v.shape) for k, v in learner.initial_fast(meta).items()}
    grads = torch.func.vmap(torch.func.grad(learner.support_loss, argnums=1), in_dims=(None, 0, 0, 0))(
        meta, fast, b.support_x, b.support_y)
    labels, _ = learner.clusters(grads, depth=0)
    sign = b.sign.numpy()
    assert len(set(labels)) == 2
    assert all(len(set(labels[sign == s])) == 1 for s in (-1, 1)) and labels[sign == 1][0] != labels[sign == -1][0]


def test_treemaml_vectorised_equals_loop_and_trains():
    learner = wh.TreeMAML(tiny_mlp(), loss="bce", inner_lr=0.3, steps=2)
    a, b = _grads(learner, _batch(8), True), _grads(learner, _batch(8), False)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)
    h = wh.meta_train(learner, wh.tasks.Threshold(), iterations=3, meta_batch=8, seed=0, progress=False)
    assert len(h.meta_loss) == 3 and np.isfinite(h.meta_loss).all()


@pytest.mark.parametrize("make", [
    lambda: wh.ESMAML(tiny_mlp(), loss="bce", inner_lr=0.3, n_samples=1),
    lambda: wh.ESMAML(tiny_mlp(), loss="bce", inner_lr=0.3, sigma=0),
    lambda: wh.ESMAML(tiny_mlp(), loss="bce", inner_lr=0.3, inner="newton"),
    lambda: wh.TreeMAML(tiny_mlp(), loss="bce", inner_lr=0.3, branching=1),
    lambda: wh.ANIL(tiny_mlp(), loss="bce", inner_lr=0.3, head="neck"),
    lambda: wh.AlphaMAML(tiny_mlp(), loss="bce", inner_lr=0.3, inner_hyper_lr=-1),
], ids=["n_samples", "sigma", "inner", "branching", "head", "inner_hyper_lr"])
def test_bad_arguments_of_relatives(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("cls", [wh.ANIL, wh.MetaSGD, wh.WormholeMetaSGD, wh.WormholeANIL, wh.AlphaMAML])
def test_every_relative_trains_deterministically(cls):
    runs = [wh.meta_train(cls(tiny_mlp(), loss="bce", inner_lr=0.3), wh.tasks.Threshold(), iterations=4,
                          meta_batch=4, seed=0, progress=False) for _ in range(2)]
    assert runs[0].meta_loss == runs[1].meta_loss
