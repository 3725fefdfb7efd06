"""Fair tuning: equal budgets, selection on a validation stream, fresh seeds for the comparison."""

import numpy as np
import pytest
import torch

import wormhole as wh
from conftest import tiny_mlp
from wormhole import tuning

FAST = dict(meta_batch=4, meta_lr=1e-2, n_validation=16, log_every=5, progress=False, device="cpu")
PLAN = {k: v for k, v in FAST.items() if k != "log_every"}


def _plan(iterations, **options):
    return tuning.SearchPlan.grid(iterations, **{**PLAN, **options})


def test_log_grid_spans_the_decades_around_its_centre():
    g = tuning.log_grid(0.4, decades=1, n=5)
    assert g[0] == pytest.approx(0.04) and g[2] == pytest.approx(0.4) and g[-1] == pytest.approx(4.0)
    assert np.allclose(np.diff(np.log10(g)), 0.5)
    assert tuning.log_grid(0.4, 2, 1) == [0.4]
    with pytest.raises(ValueError, match="center"):
        tuning.log_grid(-1.0)


@pytest.mark.parametrize("k", [12, 8, 36])
def test_standard_grids_give_every_method_k_configurations(k):
    grids = tuning.standard_grids(tiny_mlp(), loss="bce", inner_lr=0.4, k=k)
    assert list(grids) == list(tuning.METHODS) and all(len(g) == k for g in grids.values())
    maml = [l.inner_lr for l in grids["MAML"]]
    assert min(maml) == pytest.approx(0.04) and max(maml) == pytest.approx(4.0)  # a decade either side
    assert [l.inner_lr for l in grids["learned step"]] == maml
    assert all(type(l) is wh.LearnedStep for l in grids["learned step"])
    assert all(type(l) is wh.LearnedScale and l.wormhole_lr == 0 for l in grids["learned scale"])
    models = [id(l.model) for g in grids.values() for l in g]
    assert len(set(models)) == len(models)  # every learner has its own model


def test_every_method_explores_alpha_on_one_shared_grid():
    for k in (4, 12, 36):
        grids = tuning.standard_grids(tiny_mlp(), loss="bce", inner_lr=0.4, k=k)
        alphas = [[l.inner_lr for l in grid] for grid in grids.values()]
        assert all(a == alphas[0] for a in alphas), "configuration j of every method has the same α"
        assert alphas[0] == tuning.log_grid(0.4, 1.0, k) and len(alphas[0]) == k


def test_the_wormhole_grid_holds_the_protocol_s_rates_and_starts():
    grid = tuning.standard_grids(tiny_mlp(), loss="bce", inner_lr=0.4, k=36)["Wormhole"]
    combos = [("learned" if l.learn_wormhole_lr else round(l.wormhole_lr / l.inner_lr), l.describe()["wormhole_init"])
              for l in grid]
    expected = {(f, w) for f in (1, 10, 100, "learned") for w in (0.1, 0.5, 1.0)}
    assert set(combos) == expected and all(combos.count(c) == 3 for c in expected)   # balanced
    assert all(a != b for a, b in zip(combos, combos[1:]))        # neighbouring α values differ in the rest
    for combo in expected:                                        # each combination meets α across its range
        where = [j for j, c in enumerate(combos) if c == combo]
        assert min(where) < 12 and max(where) >= 24
    scale = tuning.standard_grids(tiny_mlp(), loss="bce", inner_lr=0.4, k=12)["learned scale"]
    starts = [l.describe()["wormhole_init"] for l in scale]
    assert sorted(set(starts)) == [0.1, 0.5, 1.0] and all(starts.count(w) == 4 for w in (0.1, 0.5, 1.0))


def test_validation_stream_is_neither_the_training_nor_the_evaluation_stream():
    s = wh.seeding.stream_seed
    validation = {s(i, "validation") for i in range(200)}
    others = {s(i, p) for i in range(200) for p in ("tasks", "eval", "init", "noise")}
    assert not validation & others
    learner = wh.MAML(tiny_mlp(), loss="bce", inner_lr=0.3)
    a = wh.evaluate(learner, wh.tasks.Threshold(), 8, steps=(1,), seed=0, device="cpu", stream="validation")
    b = wh.evaluate(learner, wh.tasks.Threshold(), 8, steps=(1,), seed=0, device="cpu")
    assert not np.allclose(a.loss, b.loss)
    with pytest.raises(ValueError, match="stream"):
        wh.evaluate(learner, wh.tasks.Threshold(), 8, stream="tasks")


def _grids():
    return {
        "MAML": [wh.MAML(tiny_mlp(), loss="bce", inner_lr=a) for a in (0.03, 0.3, 0.3)],
        "Wormhole": [wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3, wormhole_lr=aw, wormhole_init=w0,
                                 learn_wormhole_lr=learn)
                     for aw, w0, learn in ((0.3, 1.0, False), (3.0, 0.5, False), (0.3, 1.0, True))],
    }


def test_tune_scores_every_configuration_on_the_validation_stream_and_selects_the_best():
    tasks = wh.tasks.Threshold()
    for metric in ("loss", "accuracy"):
        result = tuning.tune(_grids(), tasks, tasks, 6, seeds=[5, 6], keep_runs=True, metric=metric,
                             **FAST)
        pick = np.argmax if metric == "accuracy" else np.argmin
        for name, m in result.methods.items():
            assert m.per_seed.shape == (3, 2) and len(m.records) == 3 and m.metric == metric
            assert m.selected == int(pick(m.score))
            runs = result.runs[name]
            for j in range(3):  # the score is the validation metric of the run at its training steps
                expected = [getattr(wh.evaluate(r.learner, tasks, 16, steps=(1,), seed=5, device="cpu",
                                                stream="validation"), metric)[:, 0].mean() for r in runs[j]]
                np.testing.assert_allclose(m.per_seed[j], expected, rtol=1e-6)
                assert runs[j][0].learner.describe() == m.records[j]
        maml = result["MAML"]
        assert maml.score[1] == maml.score[2] and maml.selected != 2  # a tie goes to the earlier entry
        assert result.budget["metric"] == metric
    assert result.budget["configurations"] == 3 and result.budget["iterations"] == 6
    assert result.budget["seeds"] == [5, 6]
    assert result.budget["validation_seed"] == 5   # the first tuning seed: it moves with the seeds
    summary = result.summary()
    assert summary["methods"]["Wormhole"]["grid"][2]["learner"]["learn_wormhole_lr"] is True
    assert "selected" in summary["methods"]["MAML"] and "rule" in summary
    assert "validation score" in result.table()
    assert isinstance(result.selected()["MAML"], wh.MAML)


def test_unequal_budgets_are_refused():
    grids = _grids()
    grids["MAML"] = grids["MAML"][:2]
    with pytest.raises(ValueError, match="same number"):
        tuning.tune(grids, wh.tasks.Threshold(), wh.tasks.Threshold(), 2, seeds=[0, 1], **FAST)
    with pytest.raises(ValueError, match="seeds"):
        tuning.tune(_grids(), wh.tasks.Threshold(), wh.tasks.Threshold(), 2, seeds=[0], **FAST)


def test_a_diverged_configuration_is_never_selected():
    grids = {"MAML": [wh.MAML(tiny_mlp(), loss="mse", inner_lr=a, steps=3) for a in (1e6, 0.01)]}
    tasks = wh.tasks.WaveletRegression()
    result = tuning.tune(grids, tasks, tasks, 3, seeds=[0, 1], **FAST)
    assert result["MAML"].selected == 1 and result["MAML"].diverged[0].all()
    assert result.summary()["methods"]["MAML"]["grid"][0]["diverged"] is True
    assert "diverged" in result.table()


def test_compare_selected_retrains_with_fresh_seeds_on_the_evaluation_stream():
    tasks = wh.tasks.Threshold()
    result = tuning.tune(_grids(), tasks, tasks, 3, seeds=[50, 51], **FAST)
    with pytest.raises(ValueError, match="fresh"):
        tuning.compare_selected("t", result, tasks, tasks, seeds=[0, 50], progress=False, device="cpu")
    c = tuning.compare_selected("t", result, tasks, tasks, seeds=[0, 1], n_eval=8, log_every=2, progress=False,
                                device="cpu", defaults={"MAML (default)": wh.MAML(tiny_mlp(), loss="bce")})
    assert isinstance(c, wh.experiments.Comparison)
    assert list(c.methods) == ["MAML", "Wormhole", "MAML (default)"]
    assert c.config["iterations"] == 3 and c.config["seeds"] == [0, 1]
    assert c.config["tuning"]["budget"]["seeds"] == [50, 51]
    assert c["MAML"].runs[0].learner.describe() == result["MAML"].selected_record


def test_budgets_grow_geometrically_up_to_the_cap():
    assert tuning.budgets(100, 1000) == [100, 200, 400, 800]
    assert tuning.budgets(100, 100) == [100]
    with pytest.raises(ValueError, match="growth"):
        tuning.budgets(100, 1000, growth=1.1)


def test_converged_budget_stops_at_the_first_flat_budget():
    learner = wh.MAML(tiny_mlp(), loss="bce", inner_lr=0.3)
    tasks = wh.tasks.Threshold()
    # a negligible meta_lr: the validation curve cannot move, so the first budget is flat
    conv = tuning.converged_budget(learner, tasks, tasks, seeds=[0, 1, 2], start=5, cap=20, meta_batch=4,
                                   meta_lr=1e-9, n_validation=16, progress=False, device="cpu")
    assert conv.converged and conv.iterations == 5 and len(conv.checks) == 1
    assert abs(conv.checks[0]["change"]) <= conv.checks[0]["ci"] and "converged at 5" in str(conv)
    # a large meta_lr keeps moving within a tiny budget: every budget up to the cap is tried
    moving = tuning.converged_budget(learner, tasks, tasks, seeds=[0, 1], start=5, cap=10, meta_batch=4,
                                     meta_lr=0.05, n_validation=64, progress=False, device="cpu")
    assert [c["iterations"] for c in moving.checks] == [5, 10][:len(moving.checks)]
    assert moving.iterations in (5, 10) and moving.converged == moving.checks[-1]["flat"]


def test_carry_over_keeps_every_setting_and_swaps_the_model():
    grids = tuning.standard_grids(tiny_mlp(), loss="bce", inner_lr=0.4, k=4)
    bigger = wh.models.MLP(1, (5, 5), 1)
    for grid in grids.values():
        for learner in grid:
            moved = tuning.carry_over(learner, bigger)
            assert type(moved) is type(learner) and moved.model is not bigger
            strip = lambda r: {k: v for k, v in r.items() if k != "model"}  # noqa: E731
            assert strip(moved.describe()) == strip(learner.describe())
            assert moved.describe()["model"]["n_parameters"] == sum(p.numel() for p in bigger.parameters())


def test_fair_fight_tunes_converges_and_compares_on_fresh_seeds():
    tasks = wh.tasks.Threshold()
    fight = tuning.fair_fight("t", _grids(), tasks, tasks, plan=_plan(4), tuning_seeds=[50, 51], seeds=[0, 1, 2],
                              converge_cap=8, n_eval=8, log_every=5)
    c = fight.comparison
    assert c.config["iterations"] == fight.convergence.iterations in (4, 8)
    assert c.config["seeds"] == [0, 1, 2] and c.config["tuned_methods"] == ["MAML", "Wormhole"]
    record = c.config["convergence"]
    assert set(record["methods"]) == {"MAML", "Wormhole"}          # every selected method is checked
    for name, conv in fight.convergence.methods.items():
        assert record["methods"][name]["checks"] == conv.checks
        assert conv.checks[0]["iterations"] == 4
    # all train for the largest budget any method needed
    assert fight.convergence.iterations == max(m.iterations for m in fight.convergence.methods.values())
    assert record["converged"] == all(m.converged for m in fight.convergence.methods.values())
    assert c["Wormhole"].runs[0].learner.describe() == fight.tuning["Wormhole"].selected_record
    # the first seed set went on from its convergence runs: the same runs as training from the start
    again = wh.experiments.compare("again", fight.tuning.selected(), tasks, tasks, seeds=[0, 1, 2],
                                   iterations=fight.convergence.iterations, meta_batch=4, meta_lr=1e-2, n_eval=8,
                                   log_every=FAST["log_every"], progress=False, device="cpu")
    for name in ("MAML", "Wormhole"):
        np.testing.assert_allclose(again[name].per_seed(1), c[name].per_seed(1), rtol=1e-5)
    assert "fresh seeds" in fight.summary()
    assert "<table" in fight.tuning.selected_table()._repr_html_() and "<table" in tuning.grid_table(_grids())._repr_html_()


def test_landscape_cells_equal_separately_trained_wormholes():
    tasks = wh.tasks.Threshold()
    base = wh.experiments.compare("b", {"MAML": wh.MAML(tiny_mlp(), loss="bce", inner_lr=0.3)}, tasks, tasks,
                                  seeds=[0, 1, 2], iterations=3, meta_batch=4, meta_lr=1e-2, n_eval=8,
                                  steps=(0, 1), log_every=3, progress=False, device="cpu")
    template = wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3)
    where = tuning.landscape(base, template, [0.3, 30.0], [0.1, 1.0], train_tasks=tasks, eval_tasks=tasks, progress=False, device="cpu")
    assert where.improvement.shape == (2, 2) == where.flip_fraction.shape
    alone = wh.experiments.compare("c", {"W": wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3, wormhole_lr=30.0,
                                                          wormhole_init=0.1)},
                                   tasks, tasks, seeds=[0, 1, 2], iterations=3, meta_batch=4, meta_lr=1e-2, n_eval=8,
                                   steps=(0, 1), log_every=3, progress=False, device="cpu")
    expected = base["MAML"].per_seed(1).mean() - alone["W"].per_seed(1).mean()   # improvement = loss reduction
    assert where.improvement[1, 0] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    # flip fractions are kept per seed, so that two cells can be compared paired by seed
    assert where.flip_per_seed.shape == (2, 2, 3)
    np.testing.assert_allclose(where.flip_fraction, where.flip_per_seed.mean(axis=-1), rtol=1e-12)
    contrast = where.flip_contrast((1, 0), (0, 1))
    assert contrast.n == 3
    assert contrast.diff == pytest.approx((where.flip_per_seed[1, 0] - where.flip_per_seed[0, 1]).mean(), abs=1e-12)
    with pytest.raises(ValueError, match="template"):
        tuning.landscape(base, wh.Wormhole(tiny_mlp(), loss="bce", learn_wormhole_lr=True), [1.0], [1.0], train_tasks=tasks, eval_tasks=tasks)


def test_the_convergence_rule_tests_the_change_paired_by_seed():
    level = np.array([0.30, 0.45, 0.60, 0.75, 0.90])            # seeds far apart in level
    # every seed still improves by 0.01: the level's CI is wide, but the paired change is not 0
    mean, ci, flat = tuning.tail_change(level, level - 0.01 + np.array([0, 1e-4, -1e-4, 2e-4, 0]))
    assert not flat and mean == pytest.approx(-0.01, abs=1e-4) and ci < 0.001
    # changes that scatter around 0: flat
    assert tuning.tail_change(level, level + np.array([0.01, -0.01, 0.005, -0.004, 0.0]))[2]
    # a diverged seed is never flat
    assert not tuning.tail_change(level, np.r_[level[:4], np.inf])[2]


def test_a_repeated_selection_gives_each_seed_set_its_own_tuning_and_budget():
    tasks = wh.tasks.Threshold()
    fight = tuning.fair_fight("t", _grids(), tasks, tasks, plan=_plan(4), tuning_seeds=[[50, 51], [52, 53]],
                              seeds=[0, 1, 2, 3], converge_cap=8, n_eval=8, log_every=5)
    assert [t.budget["seeds"] for t in fight.tunings] == [[50, 51], [52, 53]]
    assert [t.budget["validation_seed"] for t in fight.tunings] == [50, 52]    # each set's own validation tasks
    c = fight.comparison
    assert c.config["seeds"] == [0, 1, 2, 3] and c.config["sets"] == [[0, 1], [2, 3]]
    assert c.config["selection"] == "repeated for each set" and len(c.config["tuning_sets"]) == 2
    # every selected method of every set is checked, and all train for the largest budget
    assert set(fight.convergence.methods) == {f"{m} (set {i})" for m in ("MAML", "Wormhole") for i in (1, 2)}
    assert c.config["iterations"] == max(m.iterations for m in fight.convergence.methods.values())
    for i, part in enumerate(([0, 1], [2, 3])):
        chosen = fight.tunings[i].selected()
        for name in ("MAML", "Wormhole"):
            runs = [r for r in c[name].runs if r.seed in part]
            assert [r.seed for r in runs] == part
            assert all(r.learner.describe() == chosen[name].describe() for r in runs)
        # each set's runs equal runs of its selection trained from the start
        again = wh.experiments.compare("again", chosen, tasks, tasks, seeds=part, iterations=c.config["iterations"],
                                       meta_batch=4, meta_lr=1e-2, n_eval=8, log_every=FAST["log_every"],
                                       progress=False, device="cpu")
        for name in chosen:
            np.testing.assert_allclose(again[name].per_seed(1), c.subset(part)[name].per_seed(1), rtol=1e-5)
    assert "separately for each seed set" in fight.summary()


def test_tune_sets_selects_each_set_on_its_own_runs_and_equals_tune():
    tasks = wh.tasks.Threshold()
    both = tuning.tune_sets(_grids(), tasks, tasks, 4, [[50, 51], [52, 53]], **{k: v for k, v in FAST.items()
                                                                              if k != "log_every"})
    for group, result in zip(([50, 51], [52, 53]), both):
        alone = tuning.tune(_grids(), tasks, tasks, 4, group, **{k: v for k, v in FAST.items() if k != "log_every"})
        for name in alone.methods:
            np.testing.assert_allclose(result[name].per_seed, alone[name].per_seed, rtol=1e-5)
            assert result[name].selected == alone[name].selected
    with pytest.raises(ValueError, match="disjoint"):
        tuning.tune_sets(_grids(), tasks, tasks, 4, [[50, 51], [51, 52]])
    with pytest.raises(ValueError, match="at least 2"):
        tuning.tune_sets(_grids(), tasks, tasks, 4, [[50, 51], [52]])
    with pytest.raises(ValueError, match="pair of lists"):
        tuning.fair_fight("t", _grids(), tasks, tasks, plan=_plan(4), tuning_seeds=[[50, 51], [52, 53], [54, 55]],
                          seeds=[0, 1], converge_cap=4)


def test_merge_and_subset_are_inverse():
    tasks = wh.tasks.Threshold()
    learners = {"MAML": wh.MAML(tiny_mlp(), loss="bce", inner_lr=0.3)}
    parts = [wh.experiments.compare("p", learners, tasks, tasks, seeds=s, iterations=2, meta_batch=4, n_eval=8,
                                    steps=(0, 1), log_every=2, progress=False, device="cpu") for s in ([0, 1], [2])]
    merged = wh.experiments.merge("m", parts)
    assert merged.config["seeds"] == [0, 1, 2] and merged.config["sets"] == [[0, 1], [2]]
    np.testing.assert_array_equal(merged["MAML"].per_seed(1), np.r_[parts[0]["MAML"].per_seed(1),
                                                                    parts[1]["MAML"].per_seed(1)])
    np.testing.assert_array_equal(merged.subset([2])["MAML"].per_seed(1), parts[1]["MAML"].per_seed(1))
    with pytest.raises(ValueError, match="disjoint"):
        wh.experiments.merge("m", [parts[0], parts[0]])
    with pytest.raises(ValueError, match="seeds"):
        merged.subset([7])


def test_merging_sets_whose_selections_meta_learn_different_quantities():
    """One set selected a learned α_w, the other a fixed one: the merged method reports each
    quantity over the runs that have it, and its summary does not fail."""
    tasks = wh.tasks.Threshold()
    common = dict(iterations=3, meta_batch=4, n_eval=8, steps=(0, 1), log_every=3, progress=False, device="cpu")
    learned = wh.experiments.compare("p", {"Wormhole": wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3,
                                                                   learn_wormhole_lr=True, wormhole_init=0.5)},
                                     tasks, tasks, seeds=[0, 1], **common)
    fixed = wh.experiments.compare("p", {"Wormhole": wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3,
                                                                 wormhole_init=0.1)},
                                   tasks, tasks, seeds=[2], **common)
    merged = wh.experiments.merge("m", [learned, fixed])["Wormhole"]
    moved = merged.meta_learned()
    assert set(moved) == {"wormhole_init", "wormhole_lr"}
    assert moved["wormhole_init"][0] == pytest.approx((2 * 0.5 + 0.1) / 3)
    assert moved["wormhole_lr"] == pytest.approx(learned["Wormhole"].meta_learned()["wormhole_lr"])
    assert merged.summary()["meta_learned"] == moved


def test_a_selection_at_the_edge_widens_every_methods_grid_equally():
    tasks = wh.tasks.Threshold()
    # α far too small to learn in a few iterations: the largest α of the range wins
    grids = tuning.standard_grids(tiny_mlp(), "bce", 1e-3, k=3, decades=0.5)
    widen = tuning.widening(tiny_mlp(), "bce", 1e-3, k=2)
    fight = tuning.fair_fight("t", grids, tasks, tasks, plan=_plan(6, max_widen=1), tuning_seeds=[[50, 51], [52, 53]],
                              seeds=[0, 1, 2, 3], converge_cap=6, n_eval=8, widen=widen, log_every=5)
    plain = tuning.fair_fight("t", grids, tasks, tasks, plan=_plan(6), tuning_seeds=[[50, 51], [52, 53]],
                              seeds=[0, 1, 2, 3], converge_cap=6, n_eval=8, log_every=5)
    for t, before in zip(fight.tunings, plain.tunings):
        # the first edge of the first method that had one, widened once (max_widen=1)
        setting, direction = next((k, d) for m in before.methods.values() for k, d in m.at_edge.items())
        assert t.budget["widened"] == [f"{setting} past its {direction} value"]
        assert {len(m.grid) for m in t.methods.values()} == {5} and t.budget["configurations"] == 5
        for name, m in t.methods.items():   # the first three are the original grid; the rule's selection
            assert [l.describe() for l in m.grid[:3]] == [l.describe() for l in grids[name]]
            assert m.selected == tuning._select(m.per_seed, m.diverged, higher=True)
        if setting == "inner_lr":           # every method: α a decade past the edge
            edge = (max if direction == "highest" else min)(l.inner_lr for l in grids["MAML"])
            for m in t.methods.values():
                new = [l.inner_lr for l in m.grid[3:]]
                assert (max(new) if direction == "highest" else min(new)) == pytest.approx(
                    edge * (10 if direction == "highest" else 0.1))
    # without widening nothing changes
    assert "widened" not in plain.tuning.budget and len(plain.tuning["MAML"].grid) == 3


def test_compare_sets_refuses_reused_seeds_and_odd_numbers_of_tunings():
    tasks = wh.tasks.Threshold()
    result = tuning.tune(_grids(), tasks, tasks, 2, [50, 51], **{k: v for k, v in FAST.items() if k != "log_every"})
    with pytest.raises(ValueError, match="fresh"):
        tuning.compare_sets("t", [result], tasks, tasks, seeds=[0, 51])
    with pytest.raises(ValueError, match="one tuning"):
        tuning.compare_sets("t", [result, result, result], tasks, tasks, seeds=[0, 1, 2])
    with pytest.raises(ValueError, match="one entry per tuning"):
        tuning.compare_sets("t", [result], tasks, tasks, seeds=[0, 1], resume=[None, None])


def test_the_results_page_shows_each_sets_selection_and_any_widening():
    tasks = wh.tasks.Threshold()
    a, b = tuning.tune_sets(_grids(), tasks, tasks, 2, [[50, 51], [52, 53]],
                            **{k: v for k, v in FAST.items() if k != "log_every"})
    b = b.extended(tuning.tune(_grids(), tasks, tasks, 2, [52, 53], **{k: v for k, v in FAST.items()
                                                                        if k != "log_every"}),
                   "wormhole_init past its highest value")
    record = {"name": "threshold-t", "methods": {}, "config": {
        "problem": "threshold", "tuned_methods": ["MAML", "Wormhole"], "seeds": [0, 1], "iterations": 2,
        "tuning": a.summary(), "tuning_sets": [a.summary(), b.summary()], "convergence": {}}}
    page = wh.report.tuning_table({"threshold-t": record})
    assert "seed set 1" in page and "seed set 2" in page
    assert page.count("widened: w₀ past its highest value") == 1
