"""The book's one statistical rule: paired comparisons over seeds, Holm–Bonferroni across a claim.

Every comparison in the book pits a *candidate* method against a *baseline* trained with the
same seeds and evaluated on the same tasks, so the unit of evidence is the per-seed
difference ``candidate − baseline``. For one comparison:

* the mean difference and its Student-t confidence interval (:func:`mean_ci`);
* a two-sided paired t-test, whose p-value enters Holm–Bonferroni across all comparisons
  that make up one claim (:func:`holm`);
* a claim that the candidate beats several baselines at once is judged per *unit* (one
  problem × metric × number of steps): better only when better than every baseline of the unit
  (intersection–union, :func:`verdict_all`), worse when worse than the reference baseline;
* diverged runs decide the comparison: a non-finite candidate value (where the baseline of
  the same seed is finite) makes it *worse*, a non-finite baseline value (with a finite
  candidate) makes it *better*. A seed on which *both* diverged favours neither and carries no
  evidence: it leaves the t-test and is counted apart. Diverged runs are counted and
  reported, never hidden.

:func:`judge` applies the rule to a claim and :func:`verdict` returns its word:

==================  ===================================================
``"reproduced"``    every comparison significantly better
``"partly"``        some significantly better, none significantly worse
``"mixed"``         some significantly better, some significantly worse
``"no evidence"``   none significantly different
``"contradicted"``  some significantly worse, none better
==================  ===================================================

Example::

    >>> import numpy as np
    >>> from wormhole.stats import verdict
    >>> base = np.array([0.70, 0.71, 0.69, 0.72, 0.70])
    >>> verdict([(base + 0.05, base), (base + 0.04, base)])
    'reproduced'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

def _t_ppf(q, df):
    from scipy import stats   # scipy loads on first use, not with ``import wormhole``
    return stats.t.ppf(q, df)


def _ttest_rel(a, b):
    from scipy import stats
    return stats.ttest_rel(a, b)


#: the five verdict words of :func:`verdict`, from best to worst
VERDICTS = ("reproduced", "partly", "mixed", "no evidence", "contradicted")
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
    """``"0.123 ± 0.004"`` (``"1.59e+20 ± 4.4e+20"`` for diverged, huge values)."""
    if not (np.isfinite(mean) and np.isfinite(half)) or max(abs(mean), abs(half)) >= 1e4:
        return f"{mean:.3g} ± {half:.2g}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def signed_fmt(mean: float, half: float, digits: int = 3) -> str:
    """``"+0.012 ± 0.004"``: a difference with its CI half-width."""
    if not (np.isfinite(mean) and np.isfinite(half)) or max(abs(mean), abs(half)) >= 1e4:
        return f"{mean:+.3g} ± {half:.2g}"
    return f"{mean:+.{digits}f} ± {half:.{digits}f}"


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


def paired(candidate, baseline, higher_is_better: bool = True, *, level: float = 0.95, label: str = "",
           n_comparisons: int = 1) -> Paired:
    """The paired comparison of per-seed values ``candidate`` and ``baseline`` (equal length ≥ 2)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
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
    else:
        diff = float(d.mean()) if n else float("nan")
        half, p, detectable = float("nan"), 1.0, float("nan")
    if div_c or div_b:
        p = 0.0  # a diverged run decides the comparison (see the module docstring)
    return Paired(label, int(c.size), diff, half, p, bool(higher_is_better), div_c, div_b,
                  float(detectable), level, div_both)


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
    *worse* when it is worse than the reference; anything else is a tie whatever the p-values.
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


@dataclass(frozen=True)
class Judgement:
    """A claim judged: its units, which survived Holm, each unit's outcome and the verdict.

    ``outcomes[i]`` is ``"better"``, ``"worse"`` or ``"tie"`` (not significant after Holm) for
    ``units[i]``. ``detectable`` is the largest of the comparisons' smallest detectable
    differences: a true difference of that size in *any* comparison would most likely have
    been seen, so ``"no evidence"`` reads "no difference larger than this".
    """

    units: tuple[Unit, ...]
    significant: tuple[bool, ...]
    outcomes: tuple[str, ...]
    verdict: str
    detectable: float

    @property
    def comparisons(self) -> tuple[Paired, ...]:
        """Every pair of every unit, in order."""
        return tuple(c for u in self.units for c in u.pairs)

    @property
    def diverged(self) -> int:
        """Runs that diverged, over all comparisons (candidate and baseline)."""
        return sum(c.diverged_candidate + c.diverged_baseline + 2 * c.diverged_both for c in self.comparisons)

    def counts(self) -> dict[str, int]:
        """How many units came out ``better``, ``worse`` and ``tie``."""
        return {k: self.outcomes.count(k) for k in ("better", "worse", "tie")}


def word(outcomes) -> str:
    """The verdict word (:data:`VERDICTS`) of a claim whose units came out ``outcomes``."""
    outcomes = tuple(outcomes)
    better, worse = outcomes.count("better"), outcomes.count("worse")
    if outcomes and better == len(outcomes):
        return "reproduced"
    if better and worse:
        return "mixed"
    if better:
        return "partly"
    if worse:
        return "contradicted"
    return "no evidence"


def judge_units(units, level: float = 0.95) -> Judgement:
    """Holm–Bonferroni across ``units`` (each a :class:`Unit`, or a list of :class:`Paired` with the
    reference first) and the verdict word of their outcomes."""
    units = [u if isinstance(u, Unit) else Unit(tuple(u)) for u in units]
    if not units:
        raise ValueError("a claim needs at least one unit; got an empty list")
    for i, u in enumerate(units):
        if not u.pairs or not all(isinstance(c, Paired) for c in u.pairs):
            raise ValueError(f"units[{i}] must be a non-empty list of Paired comparisons (reference first)")
    sig = holm([u.p_value for u in units], level)
    outcomes = tuple(u.direction if s else "tie" for u, s in zip(units, sig))
    finite = [c.detectable for u in units for c in u.pairs if np.isfinite(c.detectable)]
    return Judgement(tuple(units), tuple(bool(s) for s in sig), outcomes, word(outcomes),
                     float(max(finite)) if finite else float("nan"))


def judge(comparisons: list[Paired], level: float = 0.95) -> Judgement:
    """Apply Holm–Bonferroni across ``comparisons`` (one claim, each comparison its own unit) and
    name the verdict."""
    if not comparisons:
        raise ValueError("a claim needs at least one comparison; got an empty list")
    return judge_units([[c] for c in comparisons], level)


def compare_all(comparisons, higher_is_better: bool = True, level: float = 0.95, labels=None) -> list[Paired]:
    """:func:`paired` for each ``(candidate, baseline)`` pair of one claim (Bonferroni-sized
    detectable differences)."""
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
        out.append(paired(cand, base, higher_is_better, level=level, label=label, n_comparisons=len(comparisons)))
    return out


def verdict(comparisons, higher_is_better: bool = True, level: float = 0.95) -> str:
    """The verdict on one claim from its ``(candidate, baseline)`` per-seed pairs.

    Paired by seed, Student-t, Holm–Bonferroni across the pairs at family-wise level
    ``1 − level``. Returns one of :data:`VERDICTS`. Raises ``ValueError`` for an empty list,
    pairs of unequal length, or fewer than 2 seeds.
    """
    return judge(compare_all(comparisons, higher_is_better, level), level).verdict


def verdict_all(units, higher_is_better: bool = True, level: float = 0.95) -> str:
    """The verdict on a claim that the candidate beats *every* baseline ("beats all").

    ``units``: one entry per unit (one problem × metric × number of steps), each a list of
    ``(candidate, baseline)`` per-seed pairs with the reference baseline (MAML) first. A unit
    is *better* only when the candidate is significantly better than every baseline of the unit
    (intersection–union: the unit's p-value is the largest of its pairs'), *worse* when it is
    significantly worse than the reference, else a tie; Holm–Bonferroni runs across units and
    the words are those of :func:`verdict`.

    Raises:
        ValueError: ``units`` is empty, a unit is empty or not a list of pairs, or a pair has
            unequal lengths or fewer than 2 seeds.

    Example::

        >>> base = np.array([0.70, 0.71, 0.69, 0.72, 0.70])
        >>> verdict_all([[(base + 0.05, base), (base + 0.05, base + 0.01)]])
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
            pairs.append(paired(cand, base, higher_is_better, level=level, n_comparisons=len(checked)))
        judged.append(Unit(tuple(pairs)))
    return judge_units(judged, level).verdict
