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
