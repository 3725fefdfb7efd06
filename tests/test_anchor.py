"""The outside anchor: evaluating a comparison at other shot counts and reading it against published numbers."""

import numpy as np
import pytest

import wormhole as wh
from wormhole.anchor import Cell, across_shots, against_published


@pytest.fixture(scope="module")
def comparison():
    mlp = lambda: wh.models.MLP(1, (8,), 1)  # noqa: E731
    tasks = wh.tasks.Sinusoid(shots=5, queries=10)
    return wh.experiments.compare("anchor-test", {"MAML": wh.MAML(mlp(), loss="mse", inner_lr=0.01),
                                                 "Meta-SGD": wh.MetaSGD(mlp(), loss="mse", inner_lr=0.01)},
                                  tasks, tasks, seeds=[0, 1, 2], iterations=3, meta_batch=4, n_eval=5,
                                  steps=(0, 1), progress=False)


def test_across_shots_is_each_seeds_evaluation_averaged_over_seeds(comparison):
    ours = across_shots(comparison, lambda k: wh.tasks.Sinusoid(shots=k, queries=20), (5, 10), n_tasks=30, seed=9)
    assert set(ours) == {"MAML", "Meta-SGD"} and set(ours["MAML"]) == {5, 10}
    for name, cells in ours.items():
        for k, cell in cells.items():
            expected = [wh.evaluate(r.learner, wh.tasks.Sinusoid(shots=k, queries=20), 30, steps=(1,), seed=9).mean_loss(1)
                        for r in comparison[name].runs]
            assert np.allclose(cell.per_seed, expected)
            mean, half = wh.stats.mean_ci(expected)
            assert cell.mean == pytest.approx(float(mean)) and cell.half_width == pytest.approx(float(half))
    # the same tasks for every method: a method with the same runs scores the same
    assert ours["MAML"][5].per_seed != ours["MAML"][10].per_seed


def test_across_shots_names_bad_arguments(comparison):
    with pytest.raises(ValueError, match="shots"):
        across_shots(comparison, lambda k: wh.tasks.Sinusoid(shots=k), (0,))
    with pytest.raises(ValueError, match="shots"):
        across_shots(comparison, lambda k: wh.tasks.Sinusoid(shots=k), ())
    with pytest.raises(ValueError, match=r"make_tasks\(10\)"):
        across_shots(comparison, lambda k: wh.tasks.Sinusoid(shots=5), (10,))
    with pytest.raises(ValueError, match="n_tasks"):
        across_shots(comparison, lambda k: wh.tasks.Sinusoid(shots=k), (5,), n_tasks=0)


def test_inside_and_outside_each_others_interval():
    ours = {"MAML": {5: Cell("MAML", 5, 1.0, 0.1, (0.9, 1.1)), 10: Cell("MAML", 10, 0.5, 0.05, (0.5,))},
            "Wormhole": {5: Cell("Wormhole", 5, 0.8, 0.1, (0.8,))}}
    rows = against_published(ours, {"MAML": {5: (1.05, 0.2), 10: (0.7, 0.1)}})
    by = {(c.method, c.shots): c for c in rows}
    assert by["MAML", 5].published_inside_ours and by["MAML", 5].ours_inside_published
    # 0.5 ± 0.05 and 0.7 ± 0.1: neither mean lies inside the other's interval
    assert by["MAML", 10].published_inside_ours is False and by["MAML", 10].ours_inside_published is False
    # nothing published: neither yes nor no
    assert by["Wormhole", 5].published is None and by["Wormhole", 5].published_inside_ours is None
    # a wide published interval can hold the book's mean while the book's narrow one misses the published mean
    wide = against_published({"MAML": {5: Cell("MAML", 5, 1.0, 0.01, (1.0,))}}, {"MAML": {5: (1.1, 0.2)}})[0]
    assert wide.ours_inside_published and not wide.published_inside_ours
    assert "published in ours" in wh.anchor.table(rows)._repr_html_()


def test_describe_says_inside_below_or_above_with_the_numbers():
    ours = {"MAML": {5: Cell("MAML", 5, 0.85, 0.04, (0.85,)), 10: Cell("MAML", 10, 0.8, 0.05, (0.8,)),
                     20: Cell("MAML", 20, 0.9, 0.05, (0.9,))}}
    rows = against_published(ours, {"MAML": {5: (1.13, 0.18), 10: (0.85, 0.14), 20: (0.71, 0.12)}})
    assert [c.position for c in rows] == ["below", "inside", "above"]
    text = wh.anchor.describe(rows, "MAML")
    assert text == ("inside the published interval (10 shots: 0.80 ± 0.05 against 0.85 ± 0.14), and below the "
                    "published interval (5 shots: 0.85 ± 0.04 against 1.13 ± 0.18), and above the published "
                    "interval (20 shots: 0.90 ± 0.05 against 0.71 ± 0.12)")
    with pytest.raises(ValueError, match="Wormhole"):
        wh.anchor.describe(rows, "Wormhole")


def test_late_change_reads_the_training_curve(comparison):
    mean, half, flat = wh.anchor.late_change(comparison["MAML"], window=0.2)
    runs = comparison["MAML"].runs
    n = len(runs[0].history.meta_loss)
    w, cut = max(1, round(0.2 * n)), round(0.8 * n)
    change = [np.mean(r.history.meta_loss[n - w:]) - np.mean(r.history.meta_loss[max(0, cut - w):cut]) for r in runs]
    assert mean == pytest.approx(np.mean(change))
    assert flat == (abs(mean) <= half)
    with pytest.raises(ValueError, match="window"):
        wh.anchor.late_change(comparison["MAML"], window=0.5)


def test_in_brief_names_the_shot_counts_only():
    ours = {"MAML": {k: Cell("MAML", k, m, 0.05, (m,)) for k, m in ((5, 0.85), (10, 0.8), (20, 0.7))}}
    rows = against_published(ours, {"MAML": {5: (1.13, 0.18), 10: (0.85, 0.14), 20: (0.71, 0.12)}})
    assert wh.anchor.in_brief(rows, "MAML") == "inside the published interval at 10 and 20 shots, below it at 5 shots"


def test_the_published_families_differ_only_where_the_papers_do():
    li = wh.tasks.Sinusoid.published("li2017", shots=5, queries=10)
    finn = wh.tasks.Sinusoid.published("finn2017", shots=5, queries=10)
    assert li.frequency == (0.8, 1.2) and finn.frequency == (1.0, 1.0)
    assert (li.amplitude, li.phase, li.x_max) == (finn.amplitude, finn.phase, finn.x_max)
    assert "frequency" in li.describe() and "frequency" not in finn.describe()
    import torch

    # MAML's family keeps its task stream: a fixed frequency draws nothing
    a = wh.tasks.Sinusoid(shots=5, queries=10).sample(8, torch.Generator().manual_seed(3))
    b = finn.sample(8, torch.Generator().manual_seed(3))
    assert torch.equal(a.support_y, b.support_y)
    # the drawn frequency changes the curves: y = A sin(ωx − φ) with ω per task
    assert not torch.equal(li.sample(50, torch.Generator().manual_seed(0)).support_y,
                           finn.sample(50, torch.Generator().manual_seed(0)).support_y)
    with pytest.raises(ValueError, match="family"):
        wh.tasks.Sinusoid.published("nobody2020")
    with pytest.raises(ValueError, match="frequency"):
        wh.tasks.Sinusoid(frequency=(0.0, 1.0))


def test_meta_sgd_rates_can_start_random_from_the_seed():
    import torch

    learner = wh.MetaSGD(wh.models.MLP(1, (8,), 1), loss="mse", inner_lr=0.01, rate_init=(0.005, 0.1))
    assert list(learner.describe()["rate_init"]) == [0.005, 0.1]
    learner.reset_parameters(7)
    first = torch.cat([r.detach().flatten() for r in learner.rates.values()])
    assert (first >= 0.005).all() and (first <= 0.1).all() and first.std() > 0.01
    learner.reset_parameters(7)
    again = torch.cat([r.detach().flatten() for r in learner.rates.values()])
    learner.reset_parameters(8)
    other = torch.cat([r.detach().flatten() for r in learner.rates.values()])
    assert torch.equal(first, again) and not torch.equal(first, other)
    constant = wh.MetaSGD(wh.models.MLP(1, (8,), 1), loss="mse", inner_lr=0.01)
    constant.reset_parameters(7)
    assert all((r == 0.01).all() for r in constant.rates.values())
    with pytest.raises(ValueError, match="rate_init"):
        wh.MetaSGD(wh.models.MLP(1, (8,), 1), rate_init=(0.1, 0.01))


def test_training_until_flat_goes_on_from_the_convergence_runs():
    tasks = wh.tasks.Sinusoid(shots=5, queries=10)
    learners = {"MAML": wh.MAML(wh.models.MLP(1, (8,), 1), loss="mse", inner_lr=0.01)}
    common = dict(meta_batch=4, n_eval=8, steps=(0, 1), log_every=4, progress=False, device="cpu")
    done, budget = wh.tuning.train_until_flat("flat", learners, tasks, tasks, [0, 1, 2], start=4, cap=8,
                                              n_validation=8, **common)
    assert done.config["iterations"] == budget.iterations in (4, 8)
    assert done.config["convergence"]["methods"]["MAML"]["checks"][0]["iterations"] == 4
    straight = wh.experiments.compare("straight", learners, tasks, tasks, [0, 1, 2], iterations=budget.iterations,
                                      **common)
    np.testing.assert_allclose(done["MAML"].per_seed(1), straight["MAML"].per_seed(1), rtol=1e-5)


def test_controlled_changes_read_against_the_published_numbers():
    staged = {
        "start": [Cell("MAML", 10, 0.60, 0.05, (0.6,), 0.85, 0.14)],
        "the family": [Cell("MAML", 10, 0.80, 0.05, (0.8,), 0.85, 0.14)],
        "the budget": [Cell("MAML", 10, 0.78, 0.05, (0.78,), 0.85, 0.14)],
    }
    label, size = wh.anchor.moved_most(staged)
    assert label == "the family" and size == pytest.approx(0.2 / 0.14)
    html = wh.anchor.changes_table(staged)._repr_html_()
    assert "below" in html and "inside" in html and "published" in html and "MAML, 10 shots" in html
    with pytest.raises(ValueError, match="two stages"):
        wh.anchor.moved_most({"start": staged["start"]})
