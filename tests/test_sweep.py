"""meta_train_sweep: configurations × seeds in one vectorised run equal each configuration alone."""

import pytest
import torch

import wormhole as wh
from conftest import tiny_mlp

ITER = dict(meta_batch=6, meta_lr=1e-2, progress=False, log_every=4, device="cpu")
SEEDS = [0, 3]


def _params(learner):
    return {k: v.detach().clone() for k, v in learner.named_parameters()}


def _assert_equal_runs(swept, alone):
    for a, b in zip(swept, alone):
        assert a.seed == b.seed
        torch.testing.assert_close(torch.tensor(a.history.meta_loss), torch.tensor(b.history.meta_loss),
                                   atol=2e-6, rtol=0)
        assert a.history.logged.keys() == b.history.logged.keys()
        for k in a.history.logged:
            torch.testing.assert_close(torch.tensor(a.history.logged[k], dtype=torch.float64),
                                       torch.tensor(b.history.logged[k], dtype=torch.float64),
                                       atol=2e-5, rtol=0, equal_nan=True)
        pb = _params(b.learner)
        for k, v in _params(a.learner).items():
            torch.testing.assert_close(v, pb[k], atol=2e-6, rtol=0)
        assert a.learner.describe() == b.learner.describe()


CONFIGS = {
    "MAML": [wh.MAML(tiny_mlp(), loss="bce", inner_lr=a, steps=2) for a in (0.05, 0.3, 1.0)],
    "Wormhole": [wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=a, steps=2, wormhole_lr=aw, wormhole_init=w0)
                 for a, aw, w0 in ((0.3, None, 1.0), (0.1, 3.0, 0.1), (0.3, 0.0, 0.5))],
    "Wormhole-learned-rate": [wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3, learn_wormhole_lr=True,
                                          wormhole_lr=aw, wormhole_init=w0) for aw, w0 in ((0.3, 1.0), (3.0, 0.5))],
    "LearnedScale": [wh.LearnedScale(tiny_mlp(), loss="bce", inner_lr=a, wormhole_init=w0)
                     for a, w0 in ((0.3, 1.0), (0.1, 0.1))],
    "LearnedStep": [wh.LearnedStep(tiny_mlp(), loss="bce", inner_lr=a) for a in (0.1, 0.5)],
}


@pytest.mark.parametrize("name", CONFIGS)
def test_a_sweep_equals_each_configuration_trained_alone(name):
    tasks = wh.tasks.Threshold()
    learners = CONFIGS[name]
    swept = wh.meta_train_sweep(learners, tasks, SEEDS, iterations=9, **ITER)
    assert len(swept) == len(learners) and all(len(runs) == len(SEEDS) for runs in swept)
    for learner, runs in zip(learners, swept):
        _assert_equal_runs(runs, wh.meta_train_seeds(learner, tasks, SEEDS, iterations=9, **ITER))


def test_each_trained_learner_carries_its_own_configuration():
    learners = CONFIGS["Wormhole"]
    swept = wh.meta_train_sweep(learners, wh.tasks.Threshold(), SEEDS, iterations=2, **ITER)
    for learner, runs in zip(learners, swept):
        for run in runs:
            assert run.learner.inner_lr == learner.inner_lr and run.learner.wormhole_lr == learner.wormhole_lr
            assert run.learner.describe() == learner.describe()
            assert run.history.logged["wormhole_lr"][0] == pytest.approx(learner.wormhole_lr)
    # the per-copy rates are not meta-parameters
    assert not any(k.startswith("hyper.") for k in swept[0][0].learner.meta_parameters())


def test_seed_chunks_give_the_same_sweep():
    learners = CONFIGS["MAML"][:2]
    whole = wh.meta_train_sweep(learners, wh.tasks.Threshold(), SEEDS, iterations=4, **ITER)
    chunked = wh.meta_train_sweep(learners, wh.tasks.Threshold(), SEEDS, iterations=4, seed_chunk=1, **ITER)
    for a, b in zip(whole, chunked):
        _assert_equal_runs(a, b)


@pytest.mark.parametrize("other, word", [
    (lambda: wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3, steps=2), "method"),
    (lambda: wh.MAML(tiny_mlp(), loss="bce", inner_lr=0.3, steps=1), "steps"),
    (lambda: wh.MAML(tiny_mlp(), loss="bce", inner_lr=0.3, steps=2, first_order=True), "first_order"),
    (lambda: wh.MAML(wh.models.MLP(1, (7,), 1), loss="bce", inner_lr=0.3, steps=2), "model"),
    (lambda: wh.MAML(tiny_mlp(), loss="mse", inner_lr=0.3, steps=2), "loss"),
])
def test_learners_that_differ_in_more_than_numbers_are_refused(other, word):
    with pytest.raises(ValueError, match=word):
        wh.meta_train_sweep([CONFIGS["MAML"][0], other()], wh.tasks.Threshold(), SEEDS, iterations=1, **ITER)


def test_a_learned_and_a_fixed_wormhole_rate_do_not_sweep_together():
    with pytest.raises(ValueError, match="learn_wormhole_lr"):
        wh.meta_train_sweep([CONFIGS["Wormhole"][0], CONFIGS["Wormhole-learned-rate"][0]], wh.tasks.Threshold(),
                            SEEDS, iterations=1, **ITER)


def test_a_diverging_configuration_can_leave_the_others_training():
    learners = [wh.MAML(tiny_mlp(), loss="mse", inner_lr=0.01, steps=3),
                wh.MAML(tiny_mlp(), loss="mse", inner_lr=1e6, steps=3)]
    tasks = wh.tasks.WaveletRegression()
    with pytest.raises(FloatingPointError, match="configuration 1"):
        wh.meta_train_sweep(learners, tasks, SEEDS, iterations=5, **ITER)
    good, bad = wh.meta_train_sweep(learners, tasks, SEEDS, iterations=5, on_nonfinite="continue", **ITER)
    assert all(r.history.diverged_at == 0 for r in bad)
    assert all(r.history.diverged_at is None for r in good)
    _assert_equal_runs(good, wh.meta_train_seeds(learners[0], tasks, SEEDS, iterations=5, **ITER))


def test_a_sweep_resumes_from_its_checkpoint(tmp_path):
    ck = str(tmp_path / "sweep.pt")
    learners = CONFIGS["LearnedStep"]
    full = wh.meta_train_sweep(learners, wh.tasks.Threshold(), SEEDS, iterations=8, **ITER)
    wh.meta_train_sweep(learners, wh.tasks.Threshold(), SEEDS, iterations=4, checkpoint=ck, **ITER)
    resumed = wh.meta_train_sweep(learners, wh.tasks.Threshold(), SEEDS, iterations=8, checkpoint=ck, **ITER)
    for a, b in zip(full, resumed):
        _assert_equal_runs(a, b)
    with pytest.raises(ValueError):
        wh.meta_train_sweep(learners[:1], wh.tasks.Threshold(), SEEDS, iterations=8, checkpoint=ck, **ITER)


@pytest.mark.parametrize("make", [lambda a: wh.ESMAML(tiny_mlp(), loss="bce", inner_lr=a, n_samples=2),
                                  lambda a: wh.DifMAML(tiny_mlp(), loss="bce", inner_lr=a, agents=2)])
def test_methods_whose_meta_parameters_cannot_carry_rates_sweep_only_equal_configurations(make):
    with pytest.raises(ValueError, match="inner_lr"):
        wh.meta_train_sweep([make(0.1), make(0.3)], wh.tasks.Threshold(), SEEDS, iterations=1, **ITER)
