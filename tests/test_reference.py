"""The algorithm in plain sight: every path of wh.MAML computes learners.maml.reference_meta_loss."""

import pytest
import torch

import wormhole as wh
from wormhole.learners.maml import reference_meta_loss
from wormhole.losses import LOSSES

CASES = {
    "MLP, bce": (lambda: wh.models.MLP(1, (8, 8), 1), "bce", wh.tasks.Threshold(shots=5, queries=7)),
    "MLP, mse": (lambda: wh.models.MLP(1, (8,), 1), "mse", wh.tasks.Sinusoid(shots=5, queries=7)),
    "ConvNet, bce": (lambda: wh.models.ConvNet(1, hidden=4), "bce",
                     wh.tasks.MNISTPairs(shots=2, queries=2)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("first_order", [False, True])
def test_maml_equals_the_reference_in_loss_and_meta_gradient(case, steps, first_order):
    make, loss, tasks = CASES[case]
    torch.manual_seed(0)
    learner = wh.MAML(make(), loss=loss, inner_lr=0.1, steps=steps, first_order=first_order)
    batch = tasks.sample(4, torch.Generator().manual_seed(1))
    params = {k: v.detach().clone().requires_grad_() for k, v in learner.model.named_parameters()}
    expected = reference_meta_loss(learner.model, params, LOSSES[loss], batch.tensors(), inner_lr=0.1, steps=steps,
                                   first_order=first_order)
    expected_grads = torch.autograd.grad(expected, list(params.values()))
    # a GroupNorm cancels the bias before it, so those entries are rounding noise: scale the tolerance
    scale = max(float(g.abs().max()) for g in expected_grads)
    for vectorize in (True, False):                 # the batched path and the per-task loop
        learner.zero_grad()
        got = learner.meta_loss(batch, vectorize=vectorize)
        got.backward()
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6), (case, vectorize)
        for (name, p), g in zip(learner.model.named_parameters(), expected_grads):
            assert torch.allclose(p.grad, g, rtol=1e-4, atol=1e-5 * scale), (case, vectorize, name)
