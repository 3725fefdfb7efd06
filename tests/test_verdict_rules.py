"""The rules behind the verdicts, on cases whose answer is known: one space for conflict, "beats
all" as an intersection–union test, failures that stay visible and never abort, selection on
what is judged, exclusion where the methods were trained."""

import copy

import numpy as np
import pytest
import torch

import wormhole as wh
from wormhole import report
from wormhole.stats import holm, judge_units, paired, verdict_all

rng = np.random.default_rng(7)
BASE = rng.normal(0.70, 0.05, size=10)


def noise(scale=0.002):
    return rng.normal(0, scale, size=10)


# ---------------------------------------------------------------- one space for conflict
FAMILIES = [
    (lambda: wh.models.MLP(1, (8, 8), 1), "bce", wh.tasks.Threshold(shots=5, queries=10)),
    (lambda: wh.models.MLP(1, (8, 8), 1), "mse", wh.tasks.WaveletRegression(shots=5, queries=10)),
    (lambda: wh.models.MLP(784, (8,), 1), "bce", wh.tasks.MNISTPairs(shots=2, queries=3)),
]


@pytest.mark.parametrize("make_model,loss,family", FAMILIES, ids=["threshold", "wavelet", "mnist"])
@pytest.mark.parametrize("steps", [1, 3])
def test_an_inert_wormhole_measures_exactly_as_maml(make_model, loss, family, steps):
    torch.manual_seed(0)
    model = make_model()
    maml = wh.MAML(copy.deepcopy(model), loss=loss, inner_lr=0.1, steps=steps)
    inert = wh.Wormhole(copy.deepcopy(model), loss=loss, inner_lr=0.1, steps=steps, wormhole_lr=0.0,
                        wormhole_init=1.0)
    scale = wh.LearnedScale(copy.deepcopy(model), loss=loss, inner_lr=0.1, steps=steps, wormhole_init=1.0)
    batch = family.sample(12, torch.Generator().manual_seed(3))
    reference = wh.diagnostics.gradient_conflict(maml, batch)
    for other in (inert, scale):
        got = wh.diagnostics.gradient_conflict(other, batch)
        assert got.mean == pytest.approx(reference.mean, abs=1e-6)
        torch.testing.assert_close(got.matrix, reference.matrix, atol=1e-6, rtol=1e-5)
    # measured in θ: as many coordinates as the network has parameters, whatever the method adds
    n_theta = sum(p.numel() for p in model.parameters())
    assert wh.diagnostics.per_task_meta_gradients(inert, batch).shape == (12, n_theta)


def test_a_live_wormhole_measures_something_else():
    torch.manual_seed(0)
    model = wh.models.MLP(1, (8, 8), 1)
    batch = wh.tasks.Threshold().sample(12, torch.Generator().manual_seed(3))
    maml = wh.MAML(copy.deepcopy(model), loss="bce", inner_lr=0.4)
    live = wh.Wormhole(copy.deepcopy(model), loss="bce", inner_lr=0.4, wormhole_lr=4.0, wormhole_init=0.3)
    assert wh.diagnostics.gradient_conflict(live, batch).mean != pytest.approx(
        wh.diagnostics.gradient_conflict(maml, batch).mean, abs=1e-4)


# ---------------------------------------------------------------- "beats all"
def test_beating_maml_alone_while_tying_the_ablations_is_not_credited():
    better = BASE + 0.03 + noise()
    units = [[(better, BASE), (better, better + noise()), (better, better + noise())] for _ in range(3)]
    assert verdict_all(units) == "inconclusive"   # pooled Holm would have said "partly" or better
    # within the margin of an ablation: the gain over MAML is not the wormhole's
    assert verdict_all(units, margin=0.01) == "no practical difference"


def test_beating_every_baseline_in_every_unit_is_reproduced():
    units = [[(BASE + 0.05 + noise(), BASE), (BASE + 0.05 + noise(), BASE + 0.02)] for _ in range(3)]
    assert verdict_all(units) == "reproduced"


def test_some_units_better_and_none_worse_is_partly():
    good = [(BASE + 0.05 + noise(), BASE), (BASE + 0.05 + noise(), BASE + 0.01)]
    tie = [(BASE + noise(), BASE), (BASE + noise(), BASE)]
    assert verdict_all([good, tie, tie]) == "partly"


def test_worse_than_the_reference_is_worse_even_when_better_than_an_ablation():
    worse = BASE - 0.05 + noise()
    units = [[(worse, BASE), (worse, worse - 0.05)] for _ in range(2)]
    assert verdict_all(units) == "contradicted"
    mixed = [[(BASE + 0.05 + noise(), BASE)], [(BASE - 0.05 + noise(), BASE)]]
    assert verdict_all(mixed) == "mixed"


def test_lower_is_better_flips_the_direction_of_every_pair():
    units = [[(BASE - 0.05 + noise(), BASE), (BASE - 0.05 + noise(), BASE - 0.02)]]
    assert verdict_all(units, higher_is_better=False) == "reproduced"


def test_the_unit_p_value_is_the_largest_of_its_pairs():
    pairs = [paired(BASE + 0.05 + noise(), BASE), paired(BASE + 0.01 + noise(0.01), BASE)]
    j = judge_units([pairs])
    assert j.units[0].p_value == max(p.p_value for p in pairs)


@pytest.mark.parametrize("units,match", [
    ([], "units"),
    ([[]], r"units\[0\]"),
    ([[(BASE, BASE[:3])]], "equal length"),
    ([[(BASE[:1], BASE[:1])]], "at least 2"),
    ([[BASE]], r"units\[0\]\[0\]"),
    ([3], r"units\[0\]"),
])
def test_verdict_all_rejects_bad_input_by_name(units, match):
    with pytest.raises(ValueError, match=match):
        verdict_all(units)


# ---------------------------------------------------------------- failures stay visible
def test_holm_never_rejects_a_nan_p_value():
    assert holm([np.nan, 0.001]).tolist() == [False, True]
    assert holm([np.nan, np.nan]).tolist() == [False, False]
    # the NaN still counts as a hypothesis: 0.03 survives alone but not beside a NaN
    assert holm([0.03]).tolist() == [True] and holm([0.03, np.nan]).tolist() == [False, False]


@pytest.mark.parametrize("loss,shape,target", [
    ("bce", (3, 4, 1), lambda: torch.ones(3, 4, 1)),
    ("ce", (3, 4, 5), lambda: torch.zeros(3, 4, dtype=torch.long)),
])
def test_a_non_finite_output_has_nan_accuracy(loss, shape, target):
    pred = torch.randn(*shape)
    pred[1, 2, 0] = float("nan")
    pred[2, 0, 0] = float("inf")
    acc = wh.losses.task_accuracies(loss, pred, target())
    assert torch.isfinite(acc[0]) and torch.isnan(acc[1:]).all()
    one = wh.losses.ACCURACIES[loss]
    assert torch.isnan(one(pred[1], target()[1])) and torch.isfinite(one(pred[0], target()[0]))


def test_a_diverged_model_scores_nan_accuracy_in_evaluation():
    learner = wh.MAML(wh.models.MLP(1, (8,), 1), loss="bce", inner_lr=0.1)
    with torch.no_grad():
        for p in learner.parameters():
            p.fill_(float("nan"))
    ev = wh.evaluate(learner, wh.tasks.Threshold(), 20, steps=(0, 1), seed=0, device="cpu")
    assert np.isnan(ev.accuracy).all() and np.isnan(ev.loss).all()


def test_a_run_that_diverges_during_a_comparison_is_recorded_and_decides_it():
    tasks = wh.tasks.WaveletRegression(shots=5, queries=5)
    learners = {"MAML": wh.MAML(wh.models.MLP(1, (8,), 1), loss="mse", inner_lr=0.01),
                "explodes": wh.MAML(wh.models.MLP(1, (8,), 1), loss="mse", inner_lr=50.0, steps=3)}
    c = wh.experiments.compare("diverges", learners, tasks, tasks, seeds=[0, 1, 2], iterations=4, meta_batch=4,
                               meta_lr=1.0, n_eval=8, steps=(0, 1), log_every=2, progress=False, device="cpu")
    assert c["explodes"].diverged() == [0, 1, 2] and c["MAML"].diverged() == []
    assert np.isnan(c["explodes"].per_seed(1)).all()
    p = wh.experiments.contrast(c, "MAML", "explodes", steps=1)
    assert p.direction() == "worse" and p.diverged_candidate == 3
    assert c.summary()["methods"]["explodes"]["diverged_in_training"] == [0, 1, 2]


# ---------------------------------------------------------------- selection and exclusion
def test_selection_scores_the_judged_metric_of_the_family():
    assert wh.evaluation.judged_metric("bce") == wh.evaluation.judged_metric("ce") == "accuracy"
    assert wh.evaluation.judged_metric("mse") == "loss"
    grids = {"MAML": [wh.MAML(wh.models.MLP(1, (8,), 1), loss="bce", inner_lr=a) for a in (0.1, 0.4)]}
    t = wh.tuning.tune(grids, wh.tasks.Threshold(), None, 2, seeds=[11, 12], meta_batch=4,
                       n_validation=8, log_every=2, progress=False, device="cpu")
    assert t.budget["metric"] == "accuracy" and t.budget["validation_seed"] == 11
    assert t.summary()["methods"]["MAML"]["metric"] == "accuracy"


def test_mnist_tuning_selects_on_the_validation_split():
    grids = {"MAML": [wh.MAML(wh.models.MLP(784, (8,), 1), loss="bce", inner_lr=a) for a in (0.1, 0.4)]}
    t = wh.tuning.tune(grids, wh.tasks.MNISTPairs(shots=2, queries=3), None, 2, seeds=[1, 2],
                       meta_batch=4, n_validation=8, log_every=2, progress=False, device="cpu")
    assert t.budget["validation_tasks"]["split"] == "validation"


def test_a_selection_at_the_edge_of_its_range_is_flagged():
    grid = [wh.MAML(wh.models.MLP(1, (8,), 1), loss="bce", inner_lr=a) for a in (0.1, 0.2, 0.4)]
    for selected, edge in ((0, {"inner_lr": "lowest"}), (1, {}), (2, {"inner_lr": "highest"})):
        m = wh.tuning.MethodTuning("MAML", grid, np.ones((3, 2)), np.zeros((3, 2), bool), selected)
        assert m.at_edge == edge


def _saved(steps_trained, loss_by_steps, acc_by_steps, n=4, loss="bce"):
    per = lambda d: {str(k): [float(v)] * n for k, v in d.items()}  # noqa: E731
    return {"learner": {"loss": loss, "steps": steps_trained}, "per_seed_loss": per(loss_by_steps),
            "per_seed_accuracy": per(acc_by_steps), "per_seed_conflict": rng.normal(0, 0.01, n).tolist(),
            "per_seed_conflict_during_training": rng.normal(0, 0.01, n).tolist()}


def test_exclusion_is_judged_where_the_methods_were_trained():
    # learned at its trained step count (1) and blows up at ten: learned, not excluded
    blows_up = _saved(1, {0: 0.69, 1: 0.1, 10: np.nan}, {0: 0.5, 1: 0.98, 10: np.nan})
    c = {"name": "mnist-x", "config": {"problem": "mnist"}, "methods": {"MAML": blows_up, "Wormhole": blows_up}}
    assert report.learned(c)
    # improves only at a step count it was not trained for: did not learn
    late = _saved(1, {0: 0.69, 1: 0.69, 10: 0.1}, {0: 0.5, 1: 0.5, 10: 0.9})
    assert not report.learned({**c, "methods": {"MAML": late, "Wormhole": late}})
    # trained for two steps (not evaluated): the nearest evaluated count, 1 ... and the metric selected on
    two = _saved(2, {0: 0.69, 1: 0.69, 10: 0.69}, {0: 0.5, 1: 0.9, 10: 0.9})
    assert report.trained_steps({"methods": {"m": two}}, "m") == 1
    assert report.learned({**c, "methods": {"MAML": two}})
    tuned = {**c, "methods": {"MAML": two}, "config": {"tuning": {"budget": {"metric": "loss"}}}}
    assert not report.learned(tuned)


def test_a_diverged_secondary_number_reads_diverged():
    fine = _saved(1, {0: 0.69, 1: 0.3, 10: 0.2}, {0: 0.5, 1: 0.8, 10: 0.85})
    bad = _saved(1, {0: 0.69, 1: 0.25, 10: np.inf}, {0: 0.5, 1: 0.85, 10: np.nan})
    c = {"name": "threshold-x", "config": {"problem": "threshold"}, "methods": {"MAML": fine, "Wormhole": bad}}
    (claim,) = report.claims({"threshold-x": c}, keys=["helps-threshold"])
    assert [e.steps for e in claim.evidence] == [1] and [e.steps for e in claim.secondary] == [10]
    table = report.html_table([claim])
    assert "diverged (Wormhole) at a step count it was not trained for" in table


def test_carried_over_settings_are_shown_and_never_judged():
    def comparison(name, carried):
        good = _saved(1, {0: 0.69, 1: 0.3, 10: 0.3}, {0: 0.5, 1: 0.8, 10: 0.8})
        config = {"problem": "mnist", "tuned_methods": ["MAML", "Wormhole"], "tuning": {"budget": {"metric": "accuracy"}}}
        if carried:
            config["carried_over_to"] = "ConvNet"
        return {"name": name, "config": config, "methods": {"MAML": good, "Wormhole": good}}

    metrics = {"mnist-MLP": comparison("mnist-MLP", False), "mnist-ConvNet": comparison("mnist-ConvNet", True)}
    rows = {r.key: r for r in report.claims(metrics)}
    assert {e.name for e in rows["helps-mnist"].evidence} == {"mnist-MLP"}
    assert not any("carried" in k for k in rows)
    assert all("mnist-ConvNet" not in {e.name for e in r.evidence + r.excluded} for r in rows.values())
    (line,) = report.exploratory(metrics)
    assert "ConvNet" in line and "no verdict" in line and not any(w in line for w in report.FINAL_WORDS)


def test_conflict_claims_are_judged_against_maml_and_the_learned_scale():
    def method(conflict):
        m = _saved(1, {0: 0.69, 1: 0.3, 10: 0.3}, {0: 0.5, 1: 0.8, 10: 0.8})
        m["per_seed_conflict"] = (conflict + rng.normal(0, 0.001, 4)).tolist()
        m["per_seed_conflict_during_training"] = m["per_seed_conflict"]
        return m

    c = {"name": "threshold-t", "config": {"problem": "threshold", "tuned_methods": ["MAML"]},
         "methods": {"MAML": method(-0.2), "Wormhole": method(0.1), "learned scale": method(0.1)}}
    rows = {r.key: r for r in report.claims({"threshold-t": c})}
    conflict = rows["conflict-training"]
    assert [e.baseline for e in conflict.units[0]] == ["MAML", "learned scale"]
    # less conflict than MAML, but no less than the learned scale (inside the margin of 0.05)
    assert conflict.verdict == "no practical difference"


# ---------------------------------------------------------------- replication on two seed sets
def test_seed_sets_are_the_two_halves_in_order():
    assert wh.seeding.seed_sets(range(6)) == ([0, 1, 2], [3, 4, 5])
    assert wh.seeding.seed_sets([9, 4, 7]) == ([9, 4], [7])
    with pytest.raises(ValueError, match="seeds"):
        wh.seeding.seed_sets([1])


def _replicated(first_gain, second_gain, n=10):
    """MAML and a Wormhole that gains ``first_gain`` accuracy on the first n seeds, ``second_gain`` on the rest."""
    base = rng.normal(0.8, 0.05, 2 * n)
    gain = np.r_[np.full(n, first_gain), np.full(n, second_gain)]

    def method(acc):
        return {"learner": {"loss": "bce", "steps": 1},
                "per_seed_accuracy": {"0": [0.5] * (2 * n), "1": acc.tolist(), "10": acc.tolist()},
                "per_seed_loss": {k: [0.7 - 0.3 * (k != "0")] * (2 * n) for k in ("0", "1", "10")},
                "per_seed_conflict": [0.0] * (2 * n), "per_seed_conflict_during_training": [0.0] * (2 * n)}

    return {"name": "threshold-r", "config": {"problem": "threshold", "seeds": list(range(100, 100 + 2 * n))},
            "methods": {"MAML": method(base), "Wormhole": method(base + gain + rng.normal(0, 0.002, 2 * n))}}


def test_restrict_keeps_one_set_of_every_per_seed_list():
    c = _replicated(0.05, 0.0)
    first = report.restrict(c, 0)
    second = report.restrict(c, 1)
    assert first["config"]["seeds"] == c["config"]["seeds"][:10] and second["config"]["seeds"] == c["config"]["seeds"][10:]
    for m in ("MAML", "Wormhole"):
        assert first["methods"][m]["per_seed_accuracy"]["1"] == c["methods"][m]["per_seed_accuracy"]["1"][:10]
        assert second["methods"][m]["per_seed_conflict"] == c["methods"][m]["per_seed_conflict"][10:]


def test_a_claim_is_replicated_only_when_both_seed_sets_agree():
    (agree,) = report.claims({"t": _replicated(0.05, 0.05)}, keys=["helps-threshold"])
    assert agree.set_verdicts == ("reproduced", "reproduced") and agree.verdict == "reproduced"
    (differ,) = report.claims({"t": _replicated(0.05, 0.0)}, keys=["helps-threshold"])
    assert differ.set_verdicts == ("reproduced", "no practical difference")
    assert differ.verdict == report.SETS_DISAGREE and differ.pooled_verdict == "reproduced"
    table = report.html_table([agree, differ])
    assert table.count(report.SETS_DISAGREE) >= 1 and "seed set 2" in table
    assert report.SETS_DISAGREE in report.describe(differ)


def test_a_comparison_shows_how_far_the_meta_learned_quantities_moved():
    tasks = wh.tasks.Threshold(shots=5, queries=5)
    learners = {"MAML": wh.MAML(wh.models.MLP(1, (8,), 1), loss="bce", inner_lr=0.4),
                "W": wh.Wormhole(wh.models.MLP(1, (8,), 1), loss="bce", inner_lr=0.4, wormhole_init=0.5,
                                 wormhole_lr=0.8, learn_wormhole_lr=True)}
    c = wh.experiments.compare("moved", learners, tasks, tasks, seeds=[0, 1], iterations=20, meta_batch=4,
                               meta_lr=0.05, n_eval=8, steps=(0, 1), log_every=10, progress=False, device="cpu")
    assert c["MAML"].meta_learned() == {}
    moved = c["W"].meta_learned()
    assert set(moved) == {"wormhole_init", "wormhole_lr"}
    assert moved["wormhole_init"][0] == pytest.approx(0.5) and moved["wormhole_lr"][0] == pytest.approx(0.8)
    ends = [float(r.learner.wormhole_init.detach().mean()) for r in c["W"].runs]
    assert moved["wormhole_init"][1] == pytest.approx(np.mean(ends)) and moved["wormhole_init"][1] != 0.5
    assert c.summary()["methods"]["W"]["meta_learned"] == moved


def test_a_set_too_small_to_judge_is_named_not_called_unreplicated():
    c = _replicated(0.05, 0.05, n=1)       # two seeds: one per set
    (claim,) = report.claims({"t": c}, keys=["helps-threshold"])
    assert claim.set_verdicts == (report.TOO_FEW_SEEDS, report.TOO_FEW_SEEDS)
    assert claim.verdict == report.TOO_FEW_SEEDS and claim.verdict in report.FINAL_WORDS
    assert report.TOO_FEW_SEEDS in report.describe(claim)


def test_a_fair_fight_not_trained_until_flat_is_set_aside_never_replaced_by_the_defaults():
    import copy

    rng = np.random.default_rng(0)

    def fight(name, converged, tuned=True):
        methods = {}
        for label, shift in (("MAML", 0.0), ("Wormhole", -0.3), ("learned scale", 0.0), ("learned step", 0.0)):
            loss = {"0": list(1.0 + rng.normal(0, 0.01, 8)), "1": list(0.5 + shift + rng.normal(0, 0.01, 8))}
            methods[label] = {"per_seed_loss": loss, "per_seed_accuracy": loss, "trained_steps": 1}
        config = {"problem": "wavelet", "seeds": list(range(8)), "iterations": 100, "loss": "mse"}
        if tuned:
            config.update(tuned_methods=list(methods), convergence={
                "iterations": 100, "converged": converged,
                "methods": {"MAML": {"iterations": 100, "converged": converged, "checks": []}}})
        return {"name": name, "methods": methods, "config": config}

    metrics = {"wavelet-mexh": fight("wavelet-mexh", True, tuned=False),
               "wavelet-mexh-tuned": fight("wavelet-mexh-tuned", False)}
    assert wh.report.unconverged(metrics["wavelet-mexh-tuned"])
    assert wh.report._headline(metrics, "wavelet") == []       # never the package defaults instead
    assert wh.report._set_aside(metrics, ("wavelet",)) == ["wavelet-mexh-tuned"]
    flat = copy.deepcopy(metrics)
    flat["wavelet-mexh-tuned"]["config"]["convergence"]["converged"] = True
    assert wh.report._headline(flat, "wavelet") == [flat["wavelet-mexh-tuned"]]
    lines = wh.report.exploratory(metrics)
    assert len(lines) == 1 and "still moving at the cap" in lines[0] and "no verdict" in lines[0]
    rows = {r.key: r for r in wh.report.claims(metrics)}
    assert rows["helps-wavelet"].verdict == wh.report.NOT_JUDGED in wh.report.FINAL_WORDS
    assert rows["helps-wavelet"].set_aside == ["wavelet-mexh-tuned"]
    assert "not judged" in wh.report.describe(rows["helps-wavelet"])
    assert "set aside" in wh.report.html_table([rows["helps-wavelet"]])
