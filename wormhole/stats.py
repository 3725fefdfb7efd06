"""The book's one statistical rule: paired comparisons over seeds, two tests each, Holm–Bonferroni across a claim.

Every comparison in the book pits a *candidate* method against a *baseline* trained with the
same seeds and evaluated on the same tasks, so the unit of evidence is the per-seed
difference ``candidate − baseline``. For one comparison:

* the mean difference and its Student-t confidence interval (:func:`mean_ci`);
* a two-sided paired t-test of *no difference*, whose p-value enters Holm–Bonferroni across
  all comparisons that make up one claim (:func:`holm`);
* an *equivalence* test against the metric's practical margin ``m`` (two one-sided t-tests on
  the same differences, TOST: is the difference above ``−m`` and below ``+m``?), with its own
  Holm–Bonferroni across the claim (margins: :mod:`wormhole.margins`);
* a comparison is **better** or **worse** only when it differs from zero *and* is not
  equivalent; **no practical difference** when it is equivalent (a significant difference
  smaller than the margin included); **inconclusive** when neither test decides;
* a claim that the candidate beats several baselines at once is judged per *unit* (one
  problem × metric × number of steps): better only when better than every baseline of the unit
  (intersection–union, :func:`verdict_all`), worse when worse than the reference baseline;
* diverged runs decide the comparison: a non-finite candidate value (where the baseline of
  the same seed is finite) makes it *worse*, a non-finite baseline value (with a finite
  candidate) makes it *better*. A seed on which *both* diverged favours neither and carries no
  evidence: it leaves the t-test and is counted apart. Diverged runs are counted and
  reported, never hidden.

:func:`judge` applies the rule to a claim and :func:`verdict` returns its word:

=============================  ==============================================
``"reproduced"``               every unit better
``"partly"``                   some better, none worse
``"mixed"``                    some better, some worse
``"no practical difference"``  every unit equivalent (inside the margin)
``"inconclusive"``             none better or worse, some undecided
``"contradicted"``             some worse, none better
=============================  ==============================================

How close a comparison is to changing its outcome is :attr:`Paired.flip_distance`: how far,
in half-widths of its 95% interval, the difference lies from the two places where a test's
answer changes (``|diff|`` equal to the interval's half-width; ``|diff|`` plus the equivalence
interval's half-width equal to the margin). A unit within :data:`BORDERLINE` of either is
*borderline*: a rebuild on other seeds, or on another machine's rounding, may move it across.

Example::

    >>> import numpy as np
    >>> from wormhole.stats import verdict
    >>> base = np.array([0.70, 0.71, 0.69, 0.72, 0.70])
    >>> verdict([(base + 0.05, base), (base + 0.04, base)], margin=0.01)
    'reproduced'
    >>> verdict([(base + 0.001, base), (base - 0.001, base)], margin=0.01)
    'no practical difference'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .numbers import mean_pm


def _t_ppf(q, df):
    from scipy import stats   # scipy loads on first use, not with ``import wormhole``
    return stats.t.ppf(q, df)


def _ttest_rel(a, b):
    from scipy import stats
    return stats.ttest_rel(a, b)


def _t_cdf(x, df):
    from scipy import stats
    return stats.t.cdf(x, df)


#: the six verdict words of :func:`verdict`, from best to worst
VERDICTS = ("reproduced", "partly", "mixed", "no practical difference", "inconclusive", "contradicted")
#: the four outcomes of a unit
OUTCOMES = ("better", "worse", "no practical difference", "inconclusive")
#: a comparison (or unit) whose :attr:`Paired.flip_distance` is below this many half-widths is borderline
BORDERLINE = 1.0
#: statistical power at which the ``detectable`` of a :class:`Paired` is the smallest detectable difference
POWER = 0.8


def mean_ci(values, axis: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean and CI half-width of ``values`` along ``axis`` (t-interval; half-width NaN for one value)."""
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[axis]
    # a diverged (non-finite) value leaves its mean and interval undefined (NaN); they are
    # computed on the finite groups only, so that inf − inf never happens
    finite = np.isfinite(v).all(axis=axis)
    safe = np.where(np.isfinite(v), v, 0.0)
    mean = np.where(finite, safe.mean(axis=axis), np.nan)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    sem = safe.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, np.where(finite, sem * _t_ppf(0.5 + level / 2, n - 1), np.nan)


def fmt(mean: float, half: float, digits: int = 3) -> str:
    """``"0.123 ± 0.004"``; a diverged (huge) value reads ``"diverged"`` and a missing half-width
    is left out (the book's one rule for showing numbers: :mod:`wormhole.numbers`)."""
    return mean_pm(mean, half, digits=digits)


def signed_fmt(mean: float, half: float, digits: int = 3) -> str:
    """``"+0.012 ± 0.004"``: a difference with its CI half-width (:func:`fmt`'s rule)."""
    return mean_pm(mean, half, digits=digits, signed=True)


@dataclass(frozen=True)
class Paired:
    """One paired comparison, candidate − baseline over seeds.

    ``diff`` and ``half_width``: the mean per-seed difference and its CI half-width at
    ``level`` (over the seeds where both runs are finite). ``p_value``: two-sided paired
    t-test (0 when a diverged run decides the comparison). ``detectable``: the smallest
    true difference that this comparison would detect with probability :data:`POWER` at
    the Bonferroni level ``(1 − level) / n_comparisons``, from the observed spread.
    ``improvement`` is ``diff`` signed so that positive means better. ``diverged_candidate``
    and ``diverged_baseline`` count the seeds on which only that side diverged;
    ``diverged_both`` those on which both did (no evidence either way).

    ``margin``: the practical margin of the metric in its own units (NaN: none, so the
    comparison can never be equivalent). ``p_equivalence``: the p-value of the two one-sided
    tests that the true difference lies inside ``± margin`` (the larger of the two; 1 when a
    diverged run decides the comparison, NaN without a margin). ``equivalence_half_width``: the
    half-width of the interval those tests use (level ``1 − 2(1 − level)``, e.g. 90%).
    """

    label: str
    n: int
    diff: float
    half_width: float
    p_value: float
    higher_is_better: bool
    diverged_candidate: int
    diverged_baseline: int
    detectable: float
    level: float
    diverged_both: int = 0
    margin: float = float("nan")
    p_equivalence: float = float("nan")
    equivalence_half_width: float = float("nan")

    @property
    def improvement(self) -> float:
        """The mean difference signed so that positive is better for the candidate."""
        return self.diff if self.higher_is_better else -self.diff

    @property
    def decided_by_divergence(self) -> str | None:
        """``"worse"`` or ``"better"`` when a diverged run decides the comparison, else ``None``."""
        if self.diverged_candidate:
            return "worse"
        if self.diverged_baseline:
            return "better"
        return None

    def difference_text(self, digits: int = 3) -> str:
        """``"+0.012 ± 0.004"``, or ``"n/a (...)"`` when no seed has finite values on both sides."""
        if not np.isfinite(self.diff):
            return "n/a (no seed on which both runs stayed finite)"
        return signed_fmt(self.diff, self.half_width, digits)

    def divergence_note(self) -> str:
        """What diverged and what that did to the comparison (empty when nothing diverged)."""
        parts = []
        if self.decided_by_divergence:
            parts.append(f"{self.diverged_candidate + self.diverged_baseline} diverged run(s) decide it")
        if self.diverged_both:
            parts.append(f"both diverged on {self.diverged_both} seed(s), no evidence there")
        return ", ".join(parts)

    @property
    def zero_distance(self) -> float:
        """``| |diff| − half_width | / half_width``: how far, in half-widths of the 95% interval, the
        test of no difference is from changing its answer (NaN without an interval)."""
        if not (np.isfinite(self.diff) and np.isfinite(self.half_width)) or self.half_width <= 0:
            return float("nan")
        return float(abs(abs(self.diff) - self.half_width) / self.half_width)

    @property
    def margin_distance(self) -> float:
        """``| margin − |diff| − equivalence_half_width | / half_width``: how far the equivalence
        test is from changing its answer, in the same unit (NaN without a margin or an interval)."""
        if not (np.isfinite(self.zero_distance) and np.isfinite(self.margin)
                and np.isfinite(self.equivalence_half_width)):
            return float("nan")
        return float(abs(self.margin - abs(self.diff) - self.equivalence_half_width) / self.half_width)

    @property
    def inside_margin(self) -> bool:
        """Whether the equivalence interval lies inside ``± margin`` (the equivalence test alone,
        before any correction, says *equivalent*)."""
        return bool(np.isfinite(self.margin_distance) and not self.decided_by_divergence
                    and abs(self.diff) + self.equivalence_half_width < self.margin)

    @property
    def flip_distance(self) -> float:
        """How near the comparison is to changing its outcome, in half-widths of its 95% interval:
        the smaller of :attr:`zero_distance` and :attr:`margin_distance`. 0 when a diverged run
        decides the comparison (whether a run diverges is itself chaotic), NaN when no interval
        could be computed."""
        if self.decided_by_divergence:
            return 0.0
        ds = [d for d in (self.zero_distance, self.margin_distance) if np.isfinite(d)]
        return float(min(ds)) if ds else float("nan")

    def direction(self) -> str:
        """``"better"`` or ``"worse"``: the side of zero the candidate falls on (``"tie"`` at 0)."""
        decided = self.decided_by_divergence
        if decided:
            return decided
        return "better" if self.improvement > 0 else "worse" if self.improvement < 0 else "tie"


def _check_pair(candidate, baseline) -> tuple[np.ndarray, np.ndarray]:
    c, b = np.asarray(candidate, dtype=np.float64).ravel(), np.asarray(baseline, dtype=np.float64).ravel()
    if c.shape != b.shape:
        raise ValueError(f"a comparison needs per-seed arrays of equal length (paired by seed); "
                         f"got {c.size} candidate and {b.size} baseline values")
    if c.size < 2:
        raise ValueError(f"a comparison needs at least 2 seeds; got {c.size}")
    return c, b


def equivalence_p(diff: float, sd: float, n: int, margin: float) -> float:
    """Two one-sided t-tests (TOST) that a mean paired difference ``diff`` (standard deviation
    ``sd`` over ``n`` pairs) lies inside ``(−margin, +margin)``: the larger of the two p-values
    (small means equivalent). NaN without a finite positive margin or with fewer than 2 pairs."""
    if not (np.isfinite(margin) and margin > 0 and np.isfinite(diff)) or n < 2:
        return float("nan")
    if sd == 0:
        return 0.0 if abs(diff) < margin else 1.0
    se = sd / np.sqrt(n)
    above = 1.0 - float(_t_cdf((diff + margin) / se, n - 1))   # H0: diff <= -margin
    below = float(_t_cdf((diff - margin) / se, n - 1))         # H0: diff >= +margin
    return max(above, below)


def paired(candidate, baseline, higher_is_better: bool = True, *, level: float = 0.95, label: str = "",
           n_comparisons: int = 1, margin: float | None = None) -> Paired:
    """The paired comparison of per-seed values ``candidate`` and ``baseline`` (equal length ≥ 2),
    with the equivalence test against ``margin`` (the metric's practical margin in its own units;
    ``None``: no equivalence test)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    margin = float("nan") if margin is None else float(margin)
    if np.isfinite(margin) and margin <= 0:
        raise ValueError(f"margin must be positive (or None for no equivalence test), got {margin}")
    c, b = _check_pair(candidate, baseline)
    ok = np.isfinite(c) & np.isfinite(b)
    div_c = int((~np.isfinite(c) & np.isfinite(b)).sum())
    div_b = int((np.isfinite(c) & ~np.isfinite(b)).sum())
    div_both = int((~np.isfinite(c) & ~np.isfinite(b)).sum())
    d = c[ok] - b[ok]
    n = int(ok.sum())
    if n >= 2:
        diff, half = (float(v) for v in mean_ci(d, level=level))
        sd = float(d.std(ddof=1))
        if sd > 0:
            p = float(_ttest_rel(c[ok], b[ok]).pvalue)
        else:
            p = 1.0 if diff == 0 else 0.0
        alpha = (1 - level) / max(int(n_comparisons), 1)
        detectable = (_t_ppf(1 - alpha / 2, n - 1) + _t_ppf(POWER, n - 1)) * sd / np.sqrt(n)
        p_eq = equivalence_p(diff, sd, n, margin)
        eq_half = float(_t_ppf(level, n - 1) * sd / np.sqrt(n))
    else:
        diff = float(d.mean()) if n else float("nan")
        half, p, detectable, p_eq, eq_half = float("nan"), 1.0, float("nan"), float("nan"), float("nan")
    if div_c or div_b:
        p = 0.0  # a diverged run decides the comparison (see the module docstring)
        p_eq = 1.0 if np.isfinite(margin) else float("nan")   # and is never equivalent
    return Paired(label, int(c.size), diff, half, p, bool(higher_is_better), div_c, div_b,
                  float(detectable), level, div_both, margin, float(p_eq), eq_half)


def holm(p_values, level: float = 0.95) -> np.ndarray:
    """Holm–Bonferroni: which hypotheses are rejected at family-wise error ``1 − level``.

    A NaN p-value (a comparison that could not be computed) is never rejected; it still counts
    as one of the ``m`` hypotheses, so it makes the others' thresholds stricter, never looser."""
    p = np.asarray(p_values, dtype=np.float64).ravel()
    m = p.size
    reject = np.zeros(m, dtype=bool)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
    for rank, i in enumerate(order):
        if not p[i] <= (1 - level) / (m - rank):   # False for NaN
            break
        reject[i] = True
    return reject


@dataclass(frozen=True)
class Unit:
    """One unit of a claim (one problem × metric × number of steps): the candidate against
    every baseline of the unit, the *reference* baseline (MAML) first.

    The candidate is *better* in the unit only when it is better than **every** baseline
    (an intersection–union test: the unit's p-value is the largest of its comparisons'),
    *worse* when it is worse than the reference. It makes *no practical difference* when it is
    equivalent (inside the margin) to the reference where it is worse, and to *some* baseline
    otherwise: a gain over MAML that an ablation without the wormhole matches within the margin
    is not the wormhole's (Bonferroni over the unit's baselines).
    """

    pairs: tuple[Paired, ...]

    @property
    def reference(self) -> Paired:
        return self.pairs[0]

    @property
    def label(self) -> str:
        return self.reference.label

    @property
    def direction(self) -> str:
        """``"better"`` (better than every baseline), ``"worse"`` (worse than the reference) or ``"tie"``."""
        if all(c.direction() == "better" for c in self.pairs):
            return "better"
        if self.reference.direction() == "worse":
            return "worse"
        return "tie"

    @property
    def p_value(self) -> float:
        """The p-value of the unit's direction: the largest of the pairs' for "better than all",
        the reference's for "worse", 1 for a tie (NaN where a p-value it needs is NaN)."""
        if self.direction == "better":
            return float(max(c.p_value for c in self.pairs)) if not any(np.isnan(c.p_value) for c in self.pairs) \
                else float("nan")
        if self.direction == "worse":
            return float(self.reference.p_value)
        return 1.0

    @property
    def p_equivalence(self) -> float:
        """The p-value of "no practical difference": the reference's equivalence test where the
        unit is worse, else the smallest of the pairs' times their number (equivalent to some
        baseline, Bonferroni); NaN where no pair has a margin."""
        if self.direction == "worse":
            return float(self.reference.p_equivalence)
        ps = [c.p_equivalence for c in self.pairs if np.isfinite(c.p_equivalence)]
        return float(min(1.0, min(ps) * len(self.pairs))) if ps else float("nan")

    def flip_distance(self, outcome: str) -> float:
        """How near the unit is to leaving ``outcome`` (its outcome after Holm), in half-widths of a
        95% interval, from the pairs that decide it: the reference alone where it is *worse*;
        where it is *no practical difference*, the equivalent pair farthest from losing its
        equivalence (the unit keeps its outcome while one pair stays inside the margin, whatever
        the test of no difference says); else the nearest of every pair. NaN when no pair has an interval. The Holm correction moves the
        boundaries a little further out; this distance is at the uncorrected level."""
        def nearest(pairs):
            ds = [c.flip_distance for c in pairs if np.isfinite(c.flip_distance)]
            return float(min(ds)) if ds else float("nan")

        if outcome == "worse":
            return nearest((self.reference,))
        if outcome == "no practical difference":   # only the margin matters: equivalence wins
            pairs = (self.reference,) if self.direction == "worse" else self.pairs
            inside = [c.margin_distance for c in pairs if c.inside_margin]
            return float(max(inside)) if inside else nearest(pairs)
        return nearest(self.pairs)


@dataclass(frozen=True)
class Judgement:
    """A claim judged: its units, which survived each test's Holm, each unit's outcome and the verdict.

    ``significant[i]``: the test of no difference rejected for ``units[i]`` after Holm;
    ``equivalent[i]``: the equivalence test did. ``outcomes[i]`` is one of :data:`OUTCOMES`.
    ``detectable`` is the largest of the comparisons' smallest detectable differences: a true
    difference of that size in *any* comparison would most likely have been seen.
    """

    units: tuple[Unit, ...]
    significant: tuple[bool, ...]
    outcomes: tuple[str, ...]
    verdict: str
    detectable: float
    equivalent: tuple[bool, ...] = ()

    @property
    def comparisons(self) -> tuple[Paired, ...]:
        """Every pair of every unit, in order."""
        return tuple(c for u in self.units for c in u.pairs)

    @property
    def diverged(self) -> int:
        """Runs that diverged, over all comparisons (candidate and baseline)."""
        return sum(c.diverged_candidate + c.diverged_baseline + 2 * c.diverged_both for c in self.comparisons)

    @property
    def unit_distances(self) -> tuple[float, ...]:
        """Per unit, how near it is to leaving its outcome (:meth:`Unit.flip_distance`)."""
        return tuple(u.flip_distance(o) for u, o in zip(self.units, self.outcomes))

    @property
    def borderline(self) -> tuple[bool, ...]:
        """Per unit, whether it is within :data:`BORDERLINE` half-widths of leaving its outcome."""
        return tuple(bool(d < BORDERLINE) for d in self.unit_distances)

    @property
    def flip_distance(self) -> float:
        """The smallest distance of the claim's units (NaN when none has one)."""
        ds = [d for d in self.unit_distances if np.isfinite(d)]
        return float(min(ds)) if ds else float("nan")

    def counts(self) -> dict[str, int]:
        """How many units came out with each of :data:`OUTCOMES`."""
        return {k: self.outcomes.count(k) for k in OUTCOMES}


def outcome(direction: str, significant: bool, equivalent: bool) -> str:
    """A unit's outcome from its direction and its two tests after Holm: equivalent wins (a
    significant difference smaller than the margin is *no practical difference*), then a
    significant difference names its side, else *inconclusive*."""
    if equivalent:
        return "no practical difference"
    if significant and direction in ("better", "worse"):
        return direction
    return "inconclusive"


def word(outcomes) -> str:
    """The verdict word (:data:`VERDICTS`) of a claim whose units came out ``outcomes``."""
    outcomes = tuple(outcomes)
    unknown = set(outcomes) - set(OUTCOMES)
    if unknown:
        raise ValueError(f"outcomes must be among {OUTCOMES}; got {sorted(unknown)}")
    better, worse = outcomes.count("better"), outcomes.count("worse")
    if outcomes and better == len(outcomes):
        return "reproduced"
    if better and worse:
        return "mixed"
    if better:
        return "partly"
    if worse:
        return "contradicted"
    if outcomes and outcomes.count("no practical difference") == len(outcomes):
        return "no practical difference"
    return "inconclusive"


def judge_units(units, level: float = 0.95) -> Judgement:
    """Both tests across ``units`` (each a :class:`Unit`, or a list of :class:`Paired` with the
    reference first), each with its own Holm–Bonferroni, and the verdict word of their outcomes."""
    units = [u if isinstance(u, Unit) else Unit(tuple(u)) for u in units]
    if not units:
        raise ValueError("a claim needs at least one unit; got an empty list")
    for i, u in enumerate(units):
        if not u.pairs or not all(isinstance(c, Paired) for c in u.pairs):
            raise ValueError(f"units[{i}] must be a non-empty list of Paired comparisons (reference first)")
    sig = holm([u.p_value for u in units], level)
    equiv = holm([u.p_equivalence for u in units], level)
    outcomes = tuple(outcome(u.direction, bool(s), bool(e)) for u, s, e in zip(units, sig, equiv))
    finite = [c.detectable for u in units for c in u.pairs if np.isfinite(c.detectable)]
    return Judgement(tuple(units), tuple(bool(s) for s in sig), outcomes, word(outcomes),
                     float(max(finite)) if finite else float("nan"), tuple(bool(e) for e in equiv))


def judge(comparisons: list[Paired], level: float = 0.95) -> Judgement:
    """Apply Holm–Bonferroni across ``comparisons`` (one claim, each comparison its own unit) and
    name the verdict."""
    if not comparisons:
        raise ValueError("a claim needs at least one comparison; got an empty list")
    return judge_units([[c] for c in comparisons], level)


def compare_all(comparisons, higher_is_better: bool = True, level: float = 0.95, labels=None,
                margin: float | None = None) -> list[Paired]:
    """:func:`paired` for each ``(candidate, baseline)`` pair of one claim (Bonferroni-sized
    detectable differences; every pair tested for equivalence against ``margin``)."""
    comparisons = list(comparisons)
    if not comparisons:
        raise ValueError("comparisons must be a non-empty list of (candidate, baseline) pairs")
    labels = list(labels) if labels is not None else [""] * len(comparisons)
    out = []
    for i, (pair, label) in enumerate(zip(comparisons, labels)):
        try:
            cand, base = pair
        except (TypeError, ValueError):
            raise ValueError(f"comparison {i} must be a (candidate, baseline) pair of per-seed arrays") from None
        out.append(paired(cand, base, higher_is_better, level=level, label=label, n_comparisons=len(comparisons),
                          margin=margin))
    return out


def verdict(comparisons, higher_is_better: bool = True, level: float = 0.95, margin: float | None = None) -> str:
    """The verdict on one claim from its ``(candidate, baseline)`` per-seed pairs.

    Paired by seed, Student-t, Holm–Bonferroni across the pairs at family-wise level
    ``1 − level``, for the test of no difference and for the equivalence test against
    ``margin`` (``None``: no equivalence test, so nothing is *no practical difference*).
    Returns one of :data:`VERDICTS`. Raises ``ValueError`` for an empty list, pairs of unequal
    length, fewer than 2 seeds, or a margin that is not positive.
    """
    return judge(compare_all(comparisons, higher_is_better, level, margin=margin), level).verdict


def verdict_all(units, higher_is_better: bool = True, level: float = 0.95, margin: float | None = None) -> str:
    """The verdict on a claim that the candidate beats *every* baseline ("beats all").

    ``units``: one entry per unit (one problem × metric × number of steps), each a list of
    ``(candidate, baseline)`` per-seed pairs with the reference baseline (MAML) first. A unit
    is *better* only when the candidate is significantly better than every baseline of the unit
    (intersection–union: the unit's p-value is the largest of its pairs'), *worse* when it is
    significantly worse than the reference, *no practical difference* when equivalent within
    ``margin`` (see :class:`Unit`), else inconclusive; each test's Holm–Bonferroni runs across
    units and the words are those of :func:`verdict`.

    Raises:
        ValueError: ``units`` is empty, a unit is empty or not a list of pairs, or a pair has
            unequal lengths or fewer than 2 seeds.

    Example::

        >>> base = np.array([0.70, 0.71, 0.69, 0.72, 0.70])
        >>> verdict_all([[(base + 0.05, base), (base + 0.05, base + 0.01)]], margin=0.02)
        'reproduced'
    """
    units = list(units)
    if not units:
        raise ValueError("units must be a non-empty list of units, each a list of (candidate, baseline) pairs")
    n_pairs = 0
    checked = []
    for i, unit in enumerate(units):
        try:
            unit = list(unit)
        except TypeError:
            raise ValueError(f"units[{i}] must be a list of (candidate, baseline) pairs") from None
        if not unit:
            raise ValueError(f"units[{i}] is empty; a unit needs at least the reference pair")
        checked.append(unit)
        n_pairs += len(unit)
    judged = []
    for i, unit in enumerate(checked):
        pairs = []
        for j, pair in enumerate(unit):
            try:
                cand, base = pair
            except (TypeError, ValueError):
                raise ValueError(f"units[{i}][{j}] must be a (candidate, baseline) pair of per-seed arrays") from None
            pairs.append(paired(cand, base, higher_is_better, level=level, n_comparisons=len(checked),
                                margin=margin))
        judged.append(Unit(tuple(pairs)))
    return judge_units(judged, level).verdict
