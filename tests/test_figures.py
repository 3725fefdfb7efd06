"""The package's figures on small runs: no text drawn over other text, diverged runs kept off the axes."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import wormhole as wh  # noqa: E402
from wormhole import report  # noqa: E402
from wormhole.plotting import overlapping_text  # noqa: E402


@pytest.fixture(scope="module")
def comparison():
    tasks = wh.tasks.Threshold(shots=3, queries=3)
    model = lambda: wh.models.MLP(1, (4,), 1)  # noqa: E731
    learners = {"MAML": wh.MAML(model(), loss="bce", inner_lr=0.4),
                "Wormhole": wh.Wormhole(model(), loss="bce", inner_lr=0.4, wormhole_lr=4.0, wormhole_init=0.5)}
    return wh.experiments.compare("figures", learners, tasks, tasks, seeds=[0, 1], iterations=4, meta_batch=2,
                                  n_eval=4, steps=(0, 1, 3), log_every=2, progress=False, device="cpu")


def test_overlapping_text_is_found():
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "one label")
    ax.text(0.5, 0.5, "another label")
    assert overlapping_text(fig) == [("one label", "another label")]
    plt.close(fig)


@pytest.mark.parametrize("draw", [wh.plotting.training_curves, wh.plotting.inner_steps, wh.plotting.conflict])
def test_a_comparison_figure_has_no_overlapping_text(comparison, draw):
    fig = draw(comparison)
    assert not overlapping_text(fig), overlapping_text(fig)
    plt.close(fig)


def test_a_diverged_seed_does_not_set_the_axis(comparison):
    comparison.methods["MAML"].evaluations[0].loss[...] = 2e5
    fig = wh.plotting.inner_steps(comparison)
    assert fig.axes[0].get_ylim()[1] < 1e3
    plt.close(fig)


def test_the_results_figure_has_no_overlapping_text():
    rng = np.random.default_rng(0)

    def method(acc):
        return {"learner": {"loss": "bce", "steps": 1},
                "per_seed_accuracy": {"0": [0.5] * 10, "1": acc.tolist()},
                "per_seed_loss": {"0": [0.7] * 10, "1": (0.3 + rng.normal(0, 0.01, 10)).tolist()},
                "per_seed_conflict": rng.normal(0, 0.01, 10).tolist(),
                "per_seed_conflict_during_training": rng.normal(0, 0.01, 10).tolist()}

    base = rng.normal(0.8, 0.02, 10)
    metrics = {f"{p}-x": {"name": f"{p}-x", "config": {"problem": p, "seeds": list(range(10))},
                          "methods": {"MAML": method(base), "Wormhole": method(base + 0.03)}}
               for p in ("threshold", "wavelet", "mnist")}
    fig = report.forest_plot(report.claims(metrics))
    assert not overlapping_text(fig), overlapping_text(fig)
    plt.close(fig)


def test_the_landscape_keeps_small_differences_visible_and_its_text_apart():
    from wormhole.stats import paired
    from wormhole.tuning.landscape import Landscape

    rng = np.random.default_rng(1)
    base = rng.normal(0.8, 0.02, 6)
    gains = [[0.01, 0.012, -0.01, 0.005, 0.3], [0.008, -0.004, 0.011, 2e6, 0.0]]
    results = [[paired(base + g + rng.normal(0, 0.002, 6), base) for g in row] for row in gains]
    land = Landscape([0.4, 4.0], [0.0, 0.1, 0.5, 1.0, 2.0], 0.4, "accuracy", 1, "MAML", results,
                     rng.uniform(0, 1, (2, 5, 6)))
    fig = wh.plotting.wormhole_landscape(land)
    image = fig.axes[0].images[0]
    assert image.norm.vmax < 0.3   # the one large cell saturates; the +0.01 cells keep their colour
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("diverged") for t in texts) and not any("e+06" in t for t in texts)
    assert not overlapping_text(fig), overlapping_text(fig)
    plt.close(fig)
