"""The book's statistical rule on synthetic comparisons whose truth is known."""

import warnings

import numpy as np
import pytest
from scipy import stats as st

import wormhole as wh
from wormhole.stats import VERDICTS, holm, judge, compare_all, mean_ci, paired, verdict

rng = np.random.default_rng(0)
BASE = rng.normal(0.70, 0.05, size=10)          # per-seed baseline values, spread between seeds
NOISE = lambda scale=0.002: rng.normal(0, scale, size=10)  # noqa: E731  small paired noise


def test_all_better_is_reproduced():
    assert verdict([(BASE + 0.02 + NOISE(), BASE) for _ in range(4)]) == "reproduced"


def test_all_equal_is_no_practical_difference_with_a_margin_and_inconclusive_without():
    pairs = [(BASE + NOISE(), BASE) for _ in range(4)]
    assert verdict(pairs, margin=0.01) == "no practical difference"
    assert verdict(pairs) == "inconclusive"   # without a margin nothing can be shown equivalent


def test_all_worse_is_contradicted():
    assert verdict([(BASE - 0.02 + NOISE(), BASE) for _ in range(4)]) == "contradicted"


def test_lower_is_better_flips_the_direction():
    assert verdict([(BASE - 0.02 + NOISE(), BASE)], higher_is_better=False) == "reproduced"


def test_some_better_none_worse_is_partly_and_both_is_mixed():
    better, same, worse = (BASE + 0.02 + NOISE(), BASE), (BASE + NOISE(), BASE), (BASE - 0.02 + NOISE(), BASE)
    assert verdict([better, same, same]) == "partly"
    assert verdict([better, worse, same]) == "mixed"


def test_pairing_sees_what_unpaired_intervals_miss():
    # seed-to-seed spread (0.05) dwarfs the consistent paired gain (0.01): the unpaired
    # intervals overlap, the paired test is decisive
    cand = BASE + 0.01 + NOISE(0.001)
    (mc, hc), (mb, hb) = mean_ci(cand), mean_ci(BASE)
    assert abs(mc - mb) < hc + hb
    assert verdict([(cand, BASE)]) == "reproduced"


def test_one_diverged_candidate_run_makes_the_comparison_worse():
    cand = BASE + 0.05
    cand[3] = np.nan
    p = paired(cand, BASE)
    assert p.diverged_candidate == 1 and p.direction() == "worse"
    assert verdict([(cand, BASE)]) == "contradicted"
    assert judge([p]).diverged == 1


def test_a_diverged_baseline_makes_a_finite_candidate_better():
    base = BASE.copy()
    base[0] = np.inf
    assert verdict([(BASE - 0.01, base)]) == "reproduced"


def test_holm_turns_a_marginal_single_win_into_inconclusive():
    # one comparison just significant on its own (p ≈ 0.03), five ties: Holm needs p < 0.05/6
    d = (np.array([0.9, 1.1, 0.2, 1.4, 0.4, 1.6, -0.3, 0.8, 1.2, -0.1]) - 0.2) * 0.01  # p = 0.031
    cand = BASE + d
    p_alone = st.ttest_rel(cand, BASE).pvalue
    assert 0.0083 < p_alone < 0.05
    assert verdict([(cand, BASE)]) == "reproduced"
    ties = [(BASE + np.roll(d - d.mean(), k), BASE) for k in range(1, 6)]  # zero mean difference
    pairs = [(cand, BASE)] + ties
    assert all(st.ttest_rel(c, b).pvalue > 0.05 / 5 for c, b in ties)
    assert verdict(pairs) == "inconclusive"


def test_holm_matches_its_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005 < 0.0125 ok; 0.01 < 0.0167 ok; 0.03 > 0.025 stop
    assert holm(p).tolist() == [True, False, False, True]
    assert holm([0.2]).tolist() == [False]


def test_detectable_difference_shrinks_with_seeds_and_grows_with_comparisons():
    d = np.tile([0.01, -0.01], 5)
    small = paired(BASE[:4] + d[:4], BASE[:4])
    large = paired(BASE + d, BASE)
    assert small.detectable > large.detectable > 0
    one = compare_all([(BASE + d, BASE)])[0]
    many = compare_all([(BASE + d, BASE)] * 10)[0]
    assert many.detectable > one.detectable


def test_judgement_reports_outcomes_and_detectable():
    j = judge(compare_all([(BASE + 0.02 + NOISE(), BASE), (BASE + NOISE(), BASE)]))
    assert j.verdict == "partly" and j.outcomes == ("better", "inconclusive")
    assert np.isfinite(j.detectable) and j.verdict in VERDICTS


@pytest.mark.parametrize("bad, message", [
    ([], "empty"),
    ([(np.ones(3), np.ones(4))], "equal length"),
    ([(np.ones(1), np.ones(1))], "at least 2 seeds"),
    ([np.ones(3)], "pair"),
])
def test_bad_input_is_named(bad, message):
    with pytest.raises(ValueError, match=message):
        verdict(bad)


def test_a_seed_on_which_both_diverged_is_no_evidence_either_way():
    cand, base = BASE + 0.05 + NOISE(), BASE.copy()
    cand[2] = base[2] = np.nan
    p = paired(cand, base)
    keep = np.arange(BASE.size) != 2
    assert p.diverged_both == 1 and p.diverged_candidate == p.diverged_baseline == 0
    assert p.decided_by_divergence is None
    assert p.p_value == pytest.approx(st.ttest_rel(cand[keep], base[keep]).pvalue)
    assert p.direction() == "better" and verdict([(cand, base)]) == "reproduced"
    assert judge([p]).diverged == 2


def test_both_diverged_on_every_seed_is_undecided_not_worse():
    nan = np.full(BASE.size, np.nan)
    p = paired(nan, nan, label="A vs B")
    assert p.p_value == 1.0 and verdict([(nan, nan)]) == "inconclusive"
    assert verdict([(nan, nan)], margin=0.1) == "inconclusive"   # nothing measured is not equivalent
    line = wh.experiments.describe_contrast(p)
    assert "nan" not in line and "n/a" in line and line.endswith("→ undecided")


def test_mean_ci_of_diverged_values_is_undefined_without_a_warning():
    values = np.array([[0.1, 0.2], [np.inf, 0.3], [0.2, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, half = mean_ci(values)
    assert np.isnan(mean[0]) and np.isnan(half[0])
    assert mean[1] == pytest.approx(0.2) and np.isfinite(half[1])


def test_standing_reads_a_contrast_in_words():
    from wormhole.experiments import standing

    base = np.array([1.0, 1.1, 0.9, 1.05, 0.95])
    ahead = wh.stats.paired(base - 0.2, base, higher_is_better=False)     # a lower loss: ahead
    behind = wh.stats.paired(base + 0.2, base, higher_is_better=False)
    level = wh.stats.paired(base + np.array([0.01, -0.01, 0.02, -0.02, 0.0]), base, higher_is_better=False)
    assert [standing(c) for c in (ahead, behind, level)] == ["ahead of", "behind", "level with"]
