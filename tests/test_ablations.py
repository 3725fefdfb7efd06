"""The ablations: a learned output scale (Wormhole with α_w = 0) and a learned scalar inner rate."""

import math

import pytest
import torch

import wormhole as wh
from conftest import tiny_mlp

ITER = dict(meta_batch=6, meta_lr=3e-2, progress=False, log_every=5, device="cpu")


def _batch(n=6):
    return wh.tasks.Threshold().sample(n, torch.Generator().manual_seed(0))


def test_learned_scale_is_wormhole_with_a_frozen_multiplier():
    scale = wh.LearnedScale(tiny_mlp(), loss="bce", inner_lr=0.3, steps=2, wormhole_init=0.5)
    same = wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3, steps=2, wormhole_lr=0.0, wormhole_init=0.5)
    b = _batch()
    torch.testing.assert_close(scale.meta_loss(b), same.meta_loss(b), atol=0, rtol=0)
    _, extras = scale.task_losses(scale.meta_parameters(), *b.tensors())
    assert torch.equal(extras["adapted"]["adapted_w"], torch.full((6,), 0.5))  # the inner loop leaves w alone
    record = scale.describe()
    assert record["method"] == "LearnedScale" and record["wormhole_lr"] == 0.0 and record["wormhole_init"] == 0.5


def test_learned_scale_meta_learns_its_scale_and_never_flips():
    learner = wh.LearnedScale(tiny_mlp(), loss="bce", inner_lr=0.3, wormhole_init=0.5)
    h = wh.meta_train(learner, wh.tasks.Threshold(), iterations=10, seed=0, **ITER)
    assert float(learner.wormhole_init.detach()) != pytest.approx(0.5)
    assert max(h.logged["flip_fraction"]) == 0


@pytest.mark.parametrize("name", ["wormhole_lr", "learn_wormhole_lr"])
def test_learned_scale_refuses_a_wormhole_rate(name):
    with pytest.raises(ValueError, match=name):
        wh.LearnedScale(tiny_mlp(), loss="bce", **{name: 0.1})


def test_wormhole_accepts_a_zero_wormhole_rate_but_not_a_negative_one():
    assert wh.Wormhole(tiny_mlp(), loss="bce", wormhole_lr=0.0).effective_wormhole_lr == 0.0
    with pytest.raises(ValueError, match="wormhole_lr"):
        wh.Wormhole(tiny_mlp(), loss="bce", wormhole_lr=-0.1)


def test_learned_step_is_maml_at_its_initial_rate_and_learns_one_rate():
    step = wh.LearnedStep(tiny_mlp(), loss="bce", inner_lr=0.3, steps=2)
    maml = wh.MAML(tiny_mlp(), loss="bce", inner_lr=0.3, steps=2)
    b = _batch()
    torch.testing.assert_close(step.meta_loss(b), maml.meta_loss(b), atol=1e-6, rtol=0)
    extra = {k for k, _ in step.named_parameters()} - {k for k, _ in maml.named_parameters()}
    assert extra == {"log_inner_lr"} and step.log_inner_lr.shape == ()
    wh.meta_train(step, wh.tasks.Threshold(), iterations=10, seed=0, **ITER)
    assert step.effective_inner_lr > 0 and step.effective_inner_lr != pytest.approx(0.3)
    assert step.effective_inner_lr == pytest.approx(math.exp(float(step.log_inner_lr.detach())))
    step.reset_parameters(0)
    assert step.effective_inner_lr == pytest.approx(0.3)
