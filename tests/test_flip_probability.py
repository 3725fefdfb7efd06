"""The strength of the conflict: every task family takes the probability that a task is flipped."""

import pytest
import torch

import wormhole as wh


def _families(**kw):
    return {
        "Threshold": wh.tasks.Threshold(**kw),
        "Wavelet": wh.tasks.WaveletRegression(**kw),
        "WaveletTransform": wh.tasks.WaveletRegression(variant="transform", signal_length=16, **kw),
        "Quadratic": wh.tasks.Quadratic([1.0, 0.0], **kw),
        "Sinusoid": wh.tasks.Sinusoid(**kw),
        "MNISTPairs": wh.tasks.MNISTPairs(shots=1, queries=1, **kw),
        "MNISTWays": wh.tasks.MNISTWays(ways=3, shots=1, queries=1, **kw),
    }


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_every_family_flips_tasks_with_the_given_probability(p):
    for name, fam in _families(flip_probability=p).items():
        assert fam.flip_probability == p and fam.flip == (p > 0)
        assert fam.describe()["flip_probability"] == p, name
        sign = fam.sample(2000, torch.Generator().manual_seed(1)).sign
        assert set(sign.unique().tolist()) <= {-1.0, 1.0}
        assert abs(float((sign < 0).float().mean()) - p) < 0.035, (name, p)


def test_flip_true_and_false_are_aliases_of_one_half_and_zero():
    for fam in _families(flip=True).values():
        assert fam.flip_probability == 0.5 and fam.describe()["flip"] is True
    for fam in _families(flip=False).values():
        assert fam.flip_probability == 0.0 and fam.describe()["flip"] is False
    # flip=True draws exactly what it always drew: the same tasks as flip_probability=0.5
    a = wh.tasks.Threshold(flip=True).sample(50, torch.Generator().manual_seed(4))
    b = wh.tasks.Threshold(flip_probability=0.5).sample(50, torch.Generator().manual_seed(4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "half"])
def test_a_probability_outside_zero_one_is_refused(bad):
    with pytest.raises(ValueError, match="flip_probability"):
        wh.tasks.Threshold(flip_probability=bad)


def test_flip_false_with_a_positive_probability_is_refused():
    with pytest.raises(ValueError, match="flip=False"):
        wh.tasks.Threshold(flip=False, flip_probability=0.25)
    assert wh.tasks.Threshold(flip=False, flip_probability=0).flip_probability == 0


def test_threshold_directions_follow_the_signs():
    b = wh.tasks.Threshold(flip_probability=0.25, t_max=0.0).sample(400, torch.Generator().manual_seed(0))
    # with t = 0, a task's labels are 1[d·x > 0]: d is the sign
    assert torch.equal(((b.support_x > 0).float() == b.support_y).all(1).squeeze(-1), b.sign > 0)


def _digits_of(fam, images):
    """The digit of each image (exact match against the family's image table)."""
    table = fam.images.reshape(len(fam.digits), -1, 28 * 28)
    flat = images.reshape(-1, 1, 1, 28 * 28)
    hit = (flat == table.unsqueeze(0)).all(-1).any(-1)  # (N, digits)
    assert (hit.sum(1) == 1).all()
    return torch.tensor(fam.digits)[hit.float().argmax(1)]


def test_mnist_pairs_without_flips_is_the_fixed_label_order_control():
    fam = wh.tasks.MNISTPairs(shots=2, queries=1, flip=False)
    b = fam.sample(40, torch.Generator().manual_seed(0))
    assert (b.sign > 0).all()
    digits = _digits_of(fam, b.support_x).view(40, 4)
    labels = b.support_y.view(40, 4)
    for d, y in zip(digits, labels):
        assert len(set(d.tolist())) == 2
        assert (y == (d == d.max()).float()).all()  # the larger digit is always class 1


def test_mnist_pair_flips_swap_the_label_order():
    fam = wh.tasks.MNISTPairs(shots=2, queries=1, flip_probability=0.25)
    b = fam.sample(80, torch.Generator().manual_seed(0))
    digits = _digits_of(fam, b.support_x).view(80, 4)
    labels = b.support_y.view(80, 4)
    larger_is_one = torch.stack([(y == (d == d.max()).float()).all() for d, y in zip(digits, labels)])
    assert torch.equal(larger_is_one, b.sign > 0) and 0 < (b.sign < 0).sum() < 80


def test_five_way_default_draws_every_label_order_alike():
    """Chapter 6's five-way tasks: labels a uniformly random order of the digits, not half sorted."""
    import torch
    from wormhole.tasks import MNISTWays

    batch = MNISTWays(ways=5, shots=1, queries=1).sample(600, torch.Generator().manual_seed(0))
    increasing = float((batch.sign > 0).float().mean())
    assert increasing < 0.03          # 1/120 in expectation, where a half-sorted family gives 0.5
    assert MNISTWays(ways=5, shots=1, queries=1).describe()["label_order"] == "uniform"
