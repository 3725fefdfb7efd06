"""wh.theory's closed forms against what the learners compute."""

import numpy as np
import pytest
import torch

import wormhole as wh
from wormhole.losses import half_squared_distance

U = [0.6, -0.8]


def _learner(kind, theta, alpha, **kw):
    model = wh.models.Point(len(theta), init=torch.tensor(theta, dtype=torch.float64))
    cls = wh.MAML if kind == "maml" else wh.Wormhole
    return cls(model, loss=half_squared_distance, inner_lr=alpha, steps=1, **kw).double()


def _both_tasks():
    return wh.tasks.TaskBatch(*_pm_batch())


def _pm_batch():
    u = torch.tensor(U, dtype=torch.float64)
    y = torch.stack([u, -u]).unsqueeze(1)
    x = torch.zeros(2, 1, 1, dtype=torch.float64)
    return x, y, x.clone(), y.clone()


@pytest.mark.parametrize("alpha", [0.1, 0.3])
def test_maml_optimum_and_meta_loss(alpha):
    theta_star, loss_star = wh.theory.maml_optimum(U, alpha)
    learner = _learner("maml", list(theta_star), alpha)
    assert learner.meta_loss(_both_tasks()).item() == pytest.approx(loss_star, rel=1e-12)
    # the optimum is stationary: the meta-gradient vanishes there
    learner.meta_loss(_both_tasks()).backward()
    assert learner.model.theta.grad.abs().max() < 1e-12
    theta = [0.2, 0.5]
    assert _learner("maml", theta, alpha).meta_loss(_both_tasks()).item() == pytest.approx(
        wh.theory.maml_meta_loss(theta, U, alpha), rel=1e-12)


def test_meta_gradient_cosine_is_minus_one_at_zero():
    assert wh.theory.meta_gradient_cosine([0.0, 0.0], U, 0.2) == pytest.approx(-1.0)
    learner = _learner("maml", [0.0, 0.0], 0.2)
    c = wh.diagnostics.gradient_conflict(learner, _both_tasks())
    assert c.mean == pytest.approx(-1.0, abs=1e-9)
    theta = [0.3, 0.1]
    c2 = wh.diagnostics.gradient_conflict(_learner("maml", theta, 0.2), _both_tasks())
    assert c2.mean == pytest.approx(wh.theory.meta_gradient_cosine(theta, U, 0.2), abs=1e-9)


@pytest.mark.parametrize("alpha", [0.0001, 0.1, 0.3])
def test_wormhole_rate_that_flips_reaches_both_optima(alpha):
    alpha_w = wh.theory.wormhole_lr_for_flip(U, alpha)
    if alpha == 0.0001:
        assert alpha_w == pytest.approx(1 / np.dot(U, U), rel=1e-3)
    np.testing.assert_allclose(wh.theory.wormhole_flip_product(U, alpha, alpha_w), -np.array(U), atol=1e-12)
    learner = _learner("wormhole", U, alpha, wormhole_lr=alpha_w, placement="parameters")
    assert learner.meta_loss(_both_tasks()).item() == pytest.approx(0.0, abs=1e-12)
    assert wh.theory.wormhole_meta_loss(U, 1.0, U, alpha, alpha_w) == pytest.approx(0.0, abs=1e-12)
    usage = wh.diagnostics.wormhole_usage(learner, wh.tasks.TaskBatch(*_both_tasks()[:4], torch.tensor([1.0, -1.0])))
    assert usage["flip_fraction_flipped_tasks"] == 1.0 and usage["flip_fraction_unflipped_tasks"] == 0.0


@pytest.mark.parametrize("theta,w0,alpha,alpha_w", [([0.3, 0.2], 0.75, 0.2, 0.5), (U, -1.25, 0.05, 1.3)])
def test_wormhole_meta_loss_closed_form_matches_learner(theta, w0, alpha, alpha_w):
    learner = _learner("wormhole", theta, alpha, wormhole_lr=alpha_w, wormhole_init=w0, placement="parameters")
    assert learner.meta_loss(_both_tasks()).item() == pytest.approx(
        wh.theory.wormhole_meta_loss(theta, w0, U, alpha, alpha_w), rel=1e-10)


def test_logistic_gradient_on_w_matches_autograd(gen):
    batch = wh.tasks.Threshold(shots=8).sample(1, gen)
    x, y = batch.support_x[0].double(), batch.support_y[0].double()
    learner = wh.Wormhole(wh.models.Logistic(), loss="bce", inner_lr=0.5, wormhole_lr=3.0,
                          wormhole_init=0.75).double()
    a, b = learner.model.linear.weight.item(), learner.model.linear.bias.item()
    fast = learner.initial_fast(learner.meta_parameters())
    g = torch.autograd.grad(learner.support_loss(learner.meta_parameters(), fast, x, y), fast["wormhole"])[0]
    assert g.item() == pytest.approx(wh.theory.logistic_wormhole_gradient(a, b, 0.75, x.numpy(), y.numpy()), rel=1e-10)
    adapted = learner.adapt(x, y)
    flips = bool(torch.sign(adapted["wormhole"]) != torch.sign(torch.tensor(0.75)))
    assert flips == wh.theory.logistic_flips(a, b, 0.75, x.numpy(), y.numpy(), alpha_w=3.0)


def test_glued_partner_gives_the_same_function():
    learner = wh.Wormhole(wh.models.MLP(1, (5,), 1), loss="mse", inner_lr=0.1, wormhole_init=0.9)
    fast = learner.initial_fast(learner.meta_parameters())
    last = {k: v.detach().numpy() for k, v in fast.items() if k.startswith("layers.1")}
    partner, w = wh.theory.glued_partner(last, 0.9)
    glued = {**fast, **{k: torch.tensor(v) for k, v in partner.items()}, "wormhole": torch.tensor(w)}
    x = torch.linspace(-3, 3, 20).unsqueeze(1)
    torch.testing.assert_close(learner.predict(fast, x), learner.predict(glued, x))
    short, long = wh.theory.shortcut_lengths(list(last.values()), 1.0)
    assert short == 2.0 and long == pytest.approx(2 * np.sqrt(sum((v**2).sum() for v in last.values())))
