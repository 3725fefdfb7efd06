"""Bad input raises ValueError naming the argument, and leaves no file behind."""

import os

import pytest
import torch

import wormhole as wh
from conftest import tiny_mlp

M = lambda: tiny_mlp()  # noqa: E731

CASES = [
    ("inner_lr", lambda: wh.MAML(M(), loss="bce", inner_lr=0)),
    ("inner_lr", lambda: wh.MAML(M(), loss="bce", inner_lr=-0.1)),
    ("steps", lambda: wh.MAML(M(), loss="bce", inner_lr=0.1, steps=-1)),
    ("loss", lambda: wh.MAML(M(), loss="hinge", inner_lr=0.1)),
    ("wormhole_lr", lambda: wh.Wormhole(M(), loss="bce", inner_lr=0.1, wormhole_lr=-1)),
    ("placement", lambda: wh.Wormhole(M(), loss="bce", inner_lr=0.1, placement="input")),
    ("granularity", lambda: wh.Wormhole(M(), loss="bce", inner_lr=0.1, granularity="neuron")),
    ("granularity", lambda: wh.Wormhole(M(), loss="bce", inner_lr=0.1, placement="parameters", granularity="layer")),
    ("model", lambda: wh.MAML("mlp", loss="bce", inner_lr=0.1)),
    ("wavelet", lambda: wh.tasks.WaveletRegression(wavelet="haar-ish")),
    ("wavelet", lambda: wh.tasks.WaveletRegression(wavelet="cmor")),
    ("wavelet", lambda: wh.tasks.WaveletRegression(wavelet="db4", variant="transform")),
    ("variant", lambda: wh.tasks.WaveletRegression(variant="fourier")),
    ("shots", lambda: wh.tasks.Threshold(shots=0)),
    ("queries", lambda: wh.tasks.Threshold(queries=0)),
    ("shots", lambda: wh.tasks.MNISTPairs(shots=300, queries=100)),
    ("ways", lambda: wh.tasks.MNISTWays(ways=5, split="test", held_out_digits=True)),
    ("split", lambda: wh.tasks.MNISTPairs(split="valid")),
    ("source", lambda: wh.tasks.MNISTPairs(source="kaggle")),
    ("amplitude", lambda: wh.tasks.WaveletRegression(amplitude=(2, 1))),
    ("meta_lr", lambda: wh.meta_train(wh.MAML(M(), loss="bce", inner_lr=0.1), wh.tasks.Threshold(), 1, meta_lr=0)),
    ("iterations", lambda: wh.meta_train(wh.MAML(M(), loss="bce", inner_lr=0.1), wh.tasks.Threshold(), -5)),
    ("meta_batch", lambda: wh.meta_train(wh.MAML(M(), loss="bce", inner_lr=0.1), wh.tasks.Threshold(), 1, meta_batch=0)),
    ("device", lambda: wh.meta_train(wh.MAML(M(), loss="bce", inner_lr=0.1), wh.tasks.Threshold(), 1, device="tpu!")),
    ("n_tasks", lambda: wh.evaluate(wh.MAML(M(), loss="bce", inner_lr=0.1), wh.tasks.Threshold(), n_tasks=0)),
    ("alpha", lambda: wh.theory.wormhole_lr_for_flip([1.0], 0.5)),
]


@pytest.mark.parametrize("name,call", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_bad_argument_raises_value_error_naming_it(name, call):
    with pytest.raises(ValueError, match=name):
        call()


def test_model_task_shape_mismatch_is_reported(tmp_path):
    learner = wh.MAML(wh.models.MLP(3, (4,), 1), loss="bce", inner_lr=0.1)
    ck = tmp_path / "run.pt"
    with pytest.raises(ValueError, match="model"):
        wh.meta_train(learner, wh.tasks.Threshold(), 2, progress=False, checkpoint=str(ck))
    assert not ck.exists()
    two_out = wh.MAML(wh.models.MLP(1, (4,), 2), loss="bce", inner_lr=0.1)
    with pytest.raises(ValueError, match="does not match"):
        two_out.meta_loss(wh.tasks.Threshold().sample(2, torch.Generator().manual_seed(0)))


def test_inconsistent_task_batch_is_reported():
    b = wh.tasks.Threshold().sample(3, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="number of tasks"):
        wh.tasks.TaskBatch(b.support_x, b.support_y[:2], b.query_x, b.query_y).validate()


def test_corrupt_checkpoint_is_reported_and_left_alone(tmp_path):
    ck = tmp_path / "run.pt"
    ck.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="checkpoint"):
        wh.meta_train(wh.MAML(M(), loss="bce", inner_lr=0.1), wh.tasks.Threshold(), 2, progress=False,
                      checkpoint=str(ck))
    assert ck.read_bytes() == b"not a checkpoint"
    assert os.listdir(tmp_path) == ["run.pt"]


def test_checkpoint_of_another_run_is_refused(tmp_path):
    ck = str(tmp_path / "run.pt")
    kw = dict(progress=False, checkpoint=ck, meta_batch=4)
    wh.meta_train(wh.MAML(M(), loss="bce", inner_lr=0.1), wh.tasks.Threshold(), 2, **kw)
    with pytest.raises(ValueError, match="different run"):
        wh.meta_train(wh.MAML(M(), loss="bce", inner_lr=0.2), wh.tasks.Threshold(), 4, **kw)
