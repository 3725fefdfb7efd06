"""Practical margins and the equivalence test, on comparisons whose truth is known: trivial
differences, equivalence, inconclusive data, every claim word, Holm on both tests, NaN
p-values and the borderline mark."""

import numpy as np
import pytest
from scipy import stats as st

from wormhole import report
from wormhole.margins import MARGINS, margin_for
from wormhole.stats import (BORDERLINE, OUTCOMES, VERDICTS, equivalence_p, judge_units, outcome, paired, verdict,
                            verdict_all, word)

rng = np.random.default_rng(11)
BASE = rng.normal(0.70, 0.05, size=10)


def shifted(shift, noise=0.002, n=10):
    return BASE[:n] + shift + rng.normal(0, noise, size=n)


# ---------------------------------------------------------------- the equivalence test itself
def test_equivalence_p_is_two_one_sided_t_tests():
    d = rng.normal(0.004, 0.01, size=8)
    m = 0.02
    lower = st.ttest_1samp(d, -m, alternative="greater").pvalue
    upper = st.ttest_1samp(d, m, alternative="less").pvalue
    assert equivalence_p(d.mean(), d.std(ddof=1), d.size, m) == pytest.approx(max(lower, upper))


def test_equivalent_exactly_when_the_ninety_percent_interval_lies_inside_the_margin():
    for shift in np.linspace(-0.03, 0.03, 13):
        cand = shifted(shift, noise=0.01)
        p = paired(cand, BASE, margin=0.02)
        inside = abs(p.diff) + p.equivalence_half_width < 0.02
        assert (p.p_equivalence < 0.05) == inside, shift


def test_a_significant_but_trivial_difference_is_no_practical_difference():
    cand = shifted(0.004, noise=0.0005)          # certainly not zero, certainly under 0.02
    p = paired(cand, BASE, margin=0.02)
    assert p.p_value < 1e-6 and p.p_equivalence < 1e-6
    assert verdict([(cand, BASE)], margin=0.02) == "no practical difference"
    assert verdict([(cand, BASE)]) == "reproduced"   # what the rule said before it had margins


def test_a_large_difference_is_better_and_not_equivalent():
    cand = shifted(0.05)
    p = paired(cand, BASE, margin=0.02)
    assert p.p_equivalence > 0.5
    assert verdict([(cand, BASE)], margin=0.02) == "reproduced"
    assert verdict([(shifted(-0.05), BASE)], margin=0.02) == "contradicted"


def test_too_few_noisy_seeds_are_inconclusive():
    cand = shifted(0.01, noise=0.05, n=3)
    assert verdict([(cand, BASE[:3])], margin=0.02) == "inconclusive"


def test_lower_is_better_keeps_the_margin_symmetric():
    cand = shifted(-0.05)
    assert verdict([(cand, BASE)], higher_is_better=False, margin=0.02) == "reproduced"
    assert verdict([(shifted(0.001, 0.0005), BASE)], higher_is_better=False, margin=0.02) == "no practical difference"


def test_a_diverged_run_is_never_equivalent_and_sits_on_the_boundary():
    cand = shifted(0.0)
    cand[3] = np.nan
    p = paired(cand, BASE, margin=0.02)
    assert p.p_equivalence == 1.0 and p.flip_distance == 0.0
    assert verdict([(cand, BASE)], margin=0.02) == "contradicted"


def test_without_a_margin_there_is_no_equivalence_test():
    p = paired(shifted(0.0), BASE)
    assert np.isnan(p.p_equivalence) and np.isnan(p.margin)
    with pytest.raises(ValueError, match="margin"):
        paired(shifted(0.0), BASE, margin=0.0)


# ---------------------------------------------------------------- outcomes and words
@pytest.mark.parametrize("direction,sig,eq,expected", [
    ("better", True, False, "better"),
    ("worse", True, False, "worse"),
    ("better", True, True, "no practical difference"),
    ("tie", False, True, "no practical difference"),
    ("tie", False, False, "inconclusive"),
    ("better", False, False, "inconclusive"),
])
def test_a_unit_outcome_from_its_two_tests(direction, sig, eq, expected):
    assert outcome(direction, sig, eq) == expected


@pytest.mark.parametrize("outcomes,expected", [
    (("better", "better"), "reproduced"),
    (("better", "no practical difference"), "partly"),
    (("better", "inconclusive"), "partly"),
    (("better", "worse"), "mixed"),
    (("worse", "no practical difference"), "contradicted"),
    (("no practical difference", "no practical difference"), "no practical difference"),
    (("no practical difference", "inconclusive"), "inconclusive"),
    (("inconclusive",), "inconclusive"),
])
def test_every_claim_word(outcomes, expected):
    assert word(outcomes) == expected
    assert set(VERDICTS) >= {word(o) for o in [outcomes]} and set(outcomes) <= set(OUTCOMES)


def test_an_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="outcomes"):
        word(("tie",))


def test_holm_runs_on_the_equivalence_test_too():
    # one unit equivalent on its own (p_eq ≈ 0.03), five units far from equivalent: Holm needs p < 0.05/6
    d = np.array([0.9, 1.1, 0.2, 1.4, 0.4, 1.6, -0.3, 0.8, 1.2, -0.1]) * 0.01
    d = d - d.mean()
    margin = float(st.t.ppf(1 - 0.03, 9) * d.std(ddof=1) / np.sqrt(10))
    alone = paired(BASE + d, BASE, margin=margin)
    assert 0.05 / 6 < alone.p_equivalence < 0.05
    assert judge_units([[alone]]).outcomes == ("no practical difference",)
    noisy = [[paired(BASE + np.roll(d, k) * 5, BASE, margin=margin)] for k in range(1, 6)]
    j = judge_units([[alone]] + noisy)
    assert j.outcomes[0] == "inconclusive" and not j.equivalent[0]


def test_a_nan_equivalence_p_value_is_never_rejected_and_tightens_the_others():
    sure = paired(shifted(0.0, noise=0.0005), BASE, margin=0.02)
    no_margin = paired(shifted(0.0), BASE)
    j = judge_units([[sure], [no_margin]])
    assert j.outcomes == ("no practical difference", "inconclusive")
    assert j.verdict == "inconclusive"


def test_beats_maml_but_matches_an_ablation_within_the_margin_is_no_practical_difference():
    wormhole = shifted(0.05)
    ablation = wormhole + rng.normal(0, 0.002, 10)
    unit = [(wormhole, BASE), (wormhole, ablation)]
    assert verdict_all([unit], margin=0.02) == "no practical difference"
    assert verdict_all([unit]) == "inconclusive"


def test_worse_than_maml_stays_worse_though_it_matches_an_ablation():
    wormhole = shifted(-0.05)
    ablation = wormhole + rng.normal(0, 0.002, 10)
    assert verdict_all([[(wormhole, BASE), (wormhole, ablation)]], margin=0.02) == "contradicted"


# ---------------------------------------------------------------- borderline
def test_flip_distance_measures_half_widths_to_the_nearest_boundary():
    far = paired(shifted(0.10), BASE, margin=0.02)
    assert far.flip_distance > 10
    # a difference whose 95% interval just touches zero is on the boundary of the test of no difference
    d = rng.normal(0, 1, 10)
    d = (d - d.mean()) / d.std(ddof=1)
    half = st.t.ppf(0.975, 9) / np.sqrt(10)
    on_zero = paired(BASE + d + half, BASE)
    assert on_zero.flip_distance == pytest.approx(0.0, abs=1e-9)
    # ... and one whose equivalence interval just touches the margin
    eq_half = st.t.ppf(0.95, 9) / np.sqrt(10)
    on_margin = paired(BASE + d + 2.0, BASE, margin=2.0 + eq_half)
    assert on_margin.flip_distance == pytest.approx(0.0, abs=1e-9)
    assert judge_units([[on_margin]]).borderline == (True,)
    assert judge_units([[far]]).borderline == (False,)
    assert BORDERLINE > 0


def test_a_unit_is_as_near_flipping_as_the_pairs_that_decide_it():
    # equivalent to an ablation by far; against MAML its interval sits right at zero: the unit's
    # "no practical difference" rests on the ablation, so it is not borderline
    d = rng.normal(0, 1, 10)
    d = (d - d.mean()) / d.std(ddof=1)
    half = st.t.ppf(0.975, 9) / np.sqrt(10) * 0.004
    wormhole = BASE + 0.004 * d + half
    ablation = wormhole + rng.normal(0, 0.0005, 10)
    j = judge_units([[paired(wormhole, BASE, margin=0.02), paired(wormhole, ablation, margin=0.02)]])
    assert j.outcomes == ("no practical difference",)
    assert j.units[0].pairs[0].flip_distance < 0.05 and j.unit_distances[0] > 5
    assert j.borderline == (False,)
    # while a unit that is better than every baseline is as near as its nearest pair
    better = judge_units([[paired(shifted(0.1), BASE, margin=0.02), paired(shifted(0.1), BASE + 0.07, margin=0.02)]])
    assert better.outcomes == ("better",)
    assert better.unit_distances[0] == min(p.flip_distance for p in better.units[0].pairs)


def test_the_results_page_marks_a_borderline_claim():
    def method(acc):
        return {"learner": {"loss": "bce", "steps": 1},
                "per_seed_accuracy": {"0": [0.5] * 10, "1": acc.tolist()},
                "per_seed_loss": {"0": [0.7] * 10, "1": [0.3] * 10},
                "per_seed_conflict": [0.0] * 10, "per_seed_conflict_during_training": [0.0] * 10}

    def comparison(gain, noise):
        return {"name": "threshold-b", "config": {"problem": "threshold", "seeds": list(range(10))},
                "methods": {"MAML": method(BASE), "Wormhole": method(BASE + gain + rng.normal(0, noise, 10))}}

    (clear,) = report.claims({"c": comparison(0.1, 0.002)}, keys=["helps-threshold"])
    assert clear.verdict == "reproduced" and not clear.borderline
    # a gain right at the accuracy margin, noisy enough that its interval straddles it
    (edge,) = report.claims({"c": comparison(MARGINS["accuracy"].size, 0.01)}, keys=["helps-threshold"])
    assert edge.borderline and edge.flip_distance < BORDERLINE
    table = report.html_table([clear, edge])
    assert 'data-borderline="true"' in table and 'data-borderline="false"' in table
    assert "borderline" in report.describe(edge)


# ---------------------------------------------------------------- the margins
def test_every_judged_metric_has_a_margin_with_a_reason():
    assert set(report.HIGHER_IS_BETTER) <= set(MARGINS)
    assert all(len(m.reason) > 20 for m in MARGINS.values())


def test_a_relative_margin_scales_with_the_baseline_and_ignores_diverged_seeds():
    assert margin_for("loss", [0.2, 0.4, np.nan]) == pytest.approx(0.03)
    assert margin_for("accuracy", [0.1, 0.9]) == MARGINS["accuracy"].size
    assert np.isnan(margin_for("loss", [np.nan, np.inf]))
    with pytest.raises(ValueError, match="metric"):
        margin_for("speed", [1.0])


# ---------------------------------------------------------------- how a number is shown
def test_a_diverged_value_is_never_shown_as_digits_or_nan():
    from wormhole import display
    from wormhole.stats import fmt, signed_fmt

    blown = [0.41, 1.08e19, 0.39, np.inf, 0.40]
    assert display.over_seeds(blown) == "diverged on 2 of 5 seeds (median of the others 0.400)"
    assert display.over_seeds([0.41, 0.39, 0.40]).startswith("0.400 ± ")
    for text in (fmt(1.08e19, 2.4e19), signed_fmt(-2514756.3, 4165677.0), display.mean_pm(3e6, 1.0),
                 display.number(-2.7e22)):
        assert text == "diverged", text
    assert fmt(-0.0205, np.nan) == "-0.021" and "nan" not in signed_fmt(0.01, np.nan)
    assert np.isnan(display.hide_diverged([1.0, 1e7, np.inf])[1:]).all()


def test_a_comparison_table_names_its_diverged_seeds():
    import torch

    import wormhole as wh

    tasks = wh.tasks.Threshold(shots=3, queries=3)
    learners = {"MAML": wh.MAML(wh.models.MLP(1, (4,), 1), loss="bce", inner_lr=0.4)}
    comparison = wh.experiments.compare("t", learners, tasks, tasks, seeds=[0, 1], iterations=2, meta_batch=2,
                                        n_eval=4, steps=(0, 1), progress=False, device="cpu")
    comparison.methods["MAML"].evaluations[0].loss[...] = 1e19   # one seed blows up at every step count
    text = comparison.table(steps=(0, 1))._repr_html_()
    assert "diverged on 1 of 2 seeds" in text and "e+19" not in text and "nan" not in text.lower()
    assert torch.is_tensor(comparison.methods["MAML"].evaluations[1].loss) is False


def test_inside_the_margin_the_test_of_no_difference_does_not_make_a_unit_borderline():
    d = rng.normal(0, 1, 10)
    d = (d - d.mean()) / d.std(ddof=1)
    half = st.t.ppf(0.975, 9) / np.sqrt(10) * 0.002
    slightly_worse = BASE + 0.002 * d - half   # its 95% interval just touches zero, far inside ± 0.02
    j = judge_units([[paired(slightly_worse, BASE, margin=0.02)]])
    assert j.outcomes == ("no practical difference",) and j.units[0].direction == "worse"
    assert j.units[0].pairs[0].zero_distance < 0.05 and j.borderline == (False,)


@pytest.mark.parametrize("sets,final", [
    (("partly", "partly"), "partly"),
    (("reproduced", "partly"), "partly"),
    (("partly", "inconclusive"), "inconclusive"),
    (("no practical difference", "inconclusive"), "inconclusive"),
    (("contradicted", "inconclusive"), "inconclusive"),
    (("partly", "no practical difference"), report.SETS_DISAGREE),
    (("reproduced", "contradicted"), report.SETS_DISAGREE),
    (("mixed", "partly"), report.SETS_DISAGREE),
    (("partly", report.TOO_FEW_SEEDS), report.TOO_FEW_SEEDS),
])
def test_the_final_word_is_what_both_seed_sets_support(sets, final):
    assert report.final_word(sets) == final
