"""Successive halving: the plan's arithmetic, survivors that go on rather than restart, the rule at
every rung, and widening on any tuned setting with an equal count for every method."""

import numpy as np
import pytest

import wormhole as wh
from conftest import tiny_mlp
from wormhole import tuning
from wormhole.training import meta_train_sweep, narrow_sweep

OPTIONS = dict(meta_batch=4, meta_lr=1e-2, n_validation=16, progress=False, device="cpu")


def test_a_plan_counts_its_survivors_and_cost():
    plan = tuning.SearchPlan(rungs=(10, 40, 160), keep=0.25)
    assert plan.survivors(24) == [24, 6, 2] and plan.survivors(1) == [1, 1, 1]
    assert plan.cost(24) == 24 * 10 + 6 * 30 + 2 * 120           # survivors go on, never restart
    assert plan.iterations == 160 and plan.describe()["rungs"] == [10, 40, 160]
    assert tuning.SearchPlan.grid(50).survivors(7) == [7] and tuning.SearchPlan.grid(50).cost(7) == 350
    assert "<table" in plan.table(24)._repr_html_()


@pytest.mark.parametrize("bad, message", [
    (dict(rungs=(10, 10)), "rungs"), (dict(rungs=()), "rungs"), (dict(rungs=(5, 3)), "rungs"),
    (dict(rungs=(5, 10), keep=1.0), "keep"), (dict(rungs=(5,), keep=0), "keep"), (dict(rungs=(5,), keep=1.5), "keep"),
    (dict(rungs=(5,), meta_batch=0), "meta_batch"), (dict(rungs=(5,), metric="f1"), "metric"),
    (dict(rungs=(5,), max_widen=-1), "max_widen"),
])
def test_a_plan_refuses_bad_settings_by_name(bad, message):
    with pytest.raises(ValueError, match=message):
        tuning.SearchPlan(**bad)


def test_a_narrowed_sweep_goes_on_like_the_uninterrupted_runs(tmp_path):
    tasks = wh.tasks.Threshold()
    grid = [wh.MAML(tiny_mlp(), loss="bce", inner_lr=a) for a in (0.1, 0.3, 1.0)]
    whole = meta_train_sweep(grid, tasks, [0, 1, 2], 8, meta_batch=4, log_every=8, progress=False, device="cpu")
    first = str(tmp_path / "first.pt")
    meta_train_sweep(grid, tasks, [0, 1, 2], 3, meta_batch=4, log_every=8, progress=False, device="cpu",
                     checkpoint=first)
    narrowed = str(tmp_path / "narrow.pt")
    narrow_sweep(first, narrowed, [2, 0], [1, 2])      # configurations 2 and 0, seeds 1 and 2
    went_on = meta_train_sweep([grid[2], grid[0]], tasks, [1, 2], 8, meta_batch=4, log_every=8, progress=False,
                               device="cpu", checkpoint=narrowed)
    for c, runs in zip((2, 0), went_on):
        for s, run in zip((1, 2), runs):
            expected = whole[c][s]
            assert run.seed == expected.seed
            np.testing.assert_allclose(run.history.meta_loss, expected.history.meta_loss, rtol=1e-5, atol=1e-6)
            for k, p in run.learner.meta_parameters().items():
                np.testing.assert_allclose(p.detach(), expected.learner.meta_parameters()[k].detach(), rtol=1e-4,
                                           atol=1e-6)
    with pytest.raises(ValueError, match="configurations"):
        narrow_sweep(first, narrowed, [3], [0])
    with pytest.raises(ValueError, match="seeds"):
        narrow_sweep(first, narrowed, [0], [0, 0])


def _grids(k=6):
    return {"MAML": [wh.MAML(tiny_mlp(), loss="bce", inner_lr=a) for a in tuning.log_grid(0.3, 1, k)],
            "learned step": [wh.LearnedStep(tiny_mlp(), loss="bce", inner_lr=a) for a in tuning.log_grid(0.3, 1, k)]}


def test_each_rung_keeps_the_best_of_the_last_and_the_selection_is_a_last_rung_survivor():
    tasks = wh.tasks.Threshold()
    plan = tuning.SearchPlan(rungs=(3, 6, 9), keep=0.5, **OPTIONS)
    result = tuning.tune(_grids(), tasks, tasks, plan, [50, 51])
    # the first rung, alone: the same runs, so the same scores, computed independently
    first = tuning.tune(_grids(), tasks, tasks, 3, [50, 51], **OPTIONS)
    for name, m in result.methods.items():
        assert [int((m.rung >= r).sum()) for r in range(3)] == plan.survivors(6)    # 6 → 3 → 2
        f = first[name]
        ranked = tuning.selection._ranking(f.per_seed, f.diverged, higher=True)
        assert set(np.flatnonzero(m.rung >= 1)) == set(ranked[:3])     # the best half of the first rung went on
        np.testing.assert_allclose(m.per_seed[m.rung == 0], f.per_seed[m.rung == 0], rtol=1e-5)
        assert m.rung[m.selected] == 2
        last = np.flatnonzero(m.rung == 2)
        assert m.selected == min(last, key=lambda j: (-m.per_seed[j].mean(), j))
    assert result.budget["rungs"] == [3, 6, 9] and result.budget["survivors"] == [6, 3, 2]
    assert result.budget["iterations"] == 9
    summary = result.summary()["methods"]["MAML"]["grid"]
    assert sorted(g["rung"] for g in summary) == [1, 1, 1, 2, 3, 3]


def test_a_survivor_scores_as_if_trained_straight_to_its_last_rung():
    tasks = wh.tasks.Threshold()
    plan = tuning.SearchPlan(rungs=(3, 7), keep=0.5, **OPTIONS)
    grids = _grids(4)
    result = tuning.tune(grids, tasks, tasks, plan, [50, 51])
    m = result["MAML"]
    j = m.selected
    straight = tuning.tune({"MAML": [grids["MAML"][j]]}, tasks, tasks, 7, [50, 51], **OPTIONS)
    np.testing.assert_allclose(m.per_seed[j], straight["MAML"].per_seed[0], rtol=1e-4, atol=1e-6)


def test_widening_gives_every_method_the_same_count_on_a_setting_it_has():
    grids = tuning.standard_grids(tiny_mlp(), "bce", 0.3, k=6)
    tasks = wh.tasks.Threshold()
    result = tuning.tune(grids, tasks, tasks, 2, [50, 51], **OPTIONS)
    widen = tuning.widening(tiny_mlp(), "bce", 0.3, k=4)
    for direction in ("lowest", "highest"):
        more = widen("wormhole_init", direction, result)
        assert {len(g) for g in more.values()} == {4}
        w0s = sorted({r["wormhole_init"] for m in result.methods.values() for r in m.records
                      if "wormhole_init" in r})
        edge = w0s[0] if direction == "lowest" else w0s[-1]
        for name in ("Wormhole", "learned scale"):   # the methods with a w₀: w₀ a decade past the edge
            chosen = result[name].selected_record
            values = [l.describe()["wormhole_init"] for l in more[name]]
            assert all(v < edge for v in values) if direction == "lowest" else all(v > edge for v in values)
            assert (min(values) if direction == "lowest" else max(values)) == pytest.approx(
                edge / 10 if direction == "lowest" else edge * 10)
            assert all(l.inner_lr == chosen["inner_lr"] for l in more[name])
        for name in ("MAML", "learned step"):         # no w₀: α around its own selection, never the same
            alpha = result[name].selected_record["inner_lr"]
            values = [l.inner_lr for l in more[name]]
            step = np.median(np.diff(np.log10(sorted({l.inner_lr for l in grids[name]}))))
            assert alpha not in values and len(set(values)) == 4
            assert np.all(np.abs(np.log10(values) - np.log10(alpha)) <= step + 1e-9)
    with pytest.raises(ValueError, match="direction"):
        widen("inner_lr", "sideways", result)


def test_a_fight_can_take_searches_run_in_cells_of_their_own():
    tasks = wh.tasks.Threshold()
    plan = tuning.SearchPlan(rungs=(2, 4), keep=0.5, **OPTIONS)
    grids = _grids(4)
    done = [tuning.search(grids, tasks, plan, seeds) for seeds in ([50, 51], [52, 53])]
    fight = tuning.fair_fight("t", grids, tasks, tasks, plan=plan, tuning_seeds=[[50, 51], [52, 53]],
                              seeds=[0, 1, 2, 3], converge_cap=4, tunings=done, n_eval=8, log_every=4)
    assert fight.tunings == done
    assert fight.comparison.config["iterations"] >= plan.iterations      # never shorter than the last rung
    assert fight.comparison.config["search"]["rungs"] == [2, 4]
    with pytest.raises(ValueError, match="one finished search per list"):
        tuning.fair_fight("t", grids, tasks, tasks, plan=plan, tuning_seeds=[[50, 51], [54, 55]], seeds=[0, 1, 2, 3],
                          converge_cap=4, tunings=done)
    with pytest.raises(ValueError, match="SearchPlan"):
        tuning.search(grids, tasks, 4, [50, 51])
