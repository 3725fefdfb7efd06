"""The results page: the abstract's claims, judged from the metrics that the chapters saved.

Every chapter saves its comparisons as JSON (:meth:`wormhole.experiments.Comparison.save`);
this module reads them back and turns them into one row per claim. Nothing here is typed
by hand: every comparison is the paired difference of :mod:`wormhole.stats`, every verdict
is :func:`wormhole.stats.judge` over the comparisons that make up the claim (Holm–Bonferroni).

One exclusion rule (:func:`learned`): a problem leaves a claim only when *no* method learned
it, judged at the step count and on the metric the methods were trained and selected for; the
excluded comparisons are listed with what they would have said.

A claim that the wormhole beats several baselines at once ("helps", "eases conflict") is judged
per *unit* (one problem × metric × number of steps): better only when better than every baseline
of the unit, worse when worse than MAML (:func:`wormhole.stats.judge_units`).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checkpoints import atomic_write
from .book import metrics_dir, provenance
from .evaluation import judged_metric
from .experiments import metric_label
from .labels import ABLATIONS, CONFLICT_BASELINES, WORMHOLE_VARIANTS
from .margins import MARGINS, margin_for
from .seeding import seed_sets
from .stats import BORDERLINE, VERDICTS, Judgement, Paired, fmt, judge_units, paired

#: which metrics improve upwards
HIGHER_IS_BETTER = {"loss": False, "accuracy": True, "conflict": True, "conflict_during_training": True,
                    "added_directions": True, "added_directions_adapted": True}


def save_metrics(name: str, data: dict) -> Path:
    """Save measurements that are not a :class:`~wormhole.experiments.Comparison` (e.g. the
    theory chapter's) next to the comparisons, for the results page."""
    path = metrics_dir() / f"{name}.json"
    text = json.dumps({"name": name, "provenance": provenance(), **data}, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def load(directory, expected: dict | None = None) -> dict[str, dict]:
    """Every ``*.json`` metrics file in ``directory``, keyed by its name.

    With ``expected`` (a :func:`wormhole.book.provenance`), a file written by another build
    (another fingerprint, seed offset or mode) raises ``ValueError``: stale numbers never
    reach the results page."""
    out = {}
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text())
        if expected is not None and data.get("provenance") != expected:
            raise ValueError(f"{path} was written by another build ({data.get('provenance')}, expected "
                             f"{expected}): delete the metrics folder and rebuild")
        out[data["name"]] = data
    return out


#: the chapters whose saved metrics the results page reads, by the prefix of their metrics files
CHAPTER_METRICS = {"theory": "2 (the glued parameter space)", "threshold": "3 (threshold comparison)",
                   "wavelet": "4 (wavelet regression)", "mnist": "5 (MNIST)", "generalisation": "6 (generalisations)",
                   "relatives": "7 (the wormhole and its relatives)"}


def missing_chapters(metrics: dict[str, dict]) -> list[str]:
    """The chapters of :data:`CHAPTER_METRICS` that saved no metrics in ``metrics``."""
    have = {name.split("-")[0] for name in metrics}
    return [chapter for prefix, chapter in CHAPTER_METRICS.items() if prefix not in have]


def per_seed(method: dict, metric: str, steps: int = 1) -> np.ndarray:
    """One saved method's per-seed values of ``metric`` (after ``steps`` inner steps for loss and accuracy)."""
    if metric in ("loss", "accuracy"):
        return np.asarray(method[f"per_seed_{metric}"][str(steps)], dtype=float)
    key = f"per_seed_{metric}"
    if key not in method:
        raise ValueError(f"metric {metric!r} was not saved for this method (have: "
                         f"{sorted(k[9:] for k in method if k.startswith('per_seed_'))})")
    return np.asarray(method[key], dtype=float)


@dataclass(frozen=True)
class Evidence:
    """One comparison behind a claim: ``candidate`` against ``baseline`` on saved comparison ``name``."""

    name: str
    candidate: str
    baseline: str
    metric: str
    steps: int
    result: Paired


#: the final word of a claim whose two seed sets give different verdicts (it says nothing about the
#: paper's claim: the evidence does not replicate from one set of seeds to the other)
SETS_DISAGREE = "seed sets disagree"
#: the final word where a seed set has too few seeds (fewer than 2 in some comparison) to be judged
TOO_FEW_SEEDS = "too few seeds"
#: the final word of a claim whose every fair fight failed the protocol (not trained until flat)
NOT_JUDGED = "not judged"
FINAL_WORDS = (*VERDICTS, SETS_DISAGREE, TOO_FEW_SEEDS, NOT_JUDGED)


def final_word(set_words) -> str:
    """The replication rule: a claim's final word is what *both* seed sets support.

    The same word from both is that word; *reproduced* in one and *partly* in the other is
    *partly* (some units better, none worse, in both); where one set cannot decide
    (*inconclusive*) the claim is *inconclusive*, whatever the other says; two different decided
    words are :data:`SETS_DISAGREE`. A set too small to judge makes it :data:`TOO_FEW_SEEDS`."""
    words = tuple(set_words)
    if TOO_FEW_SEEDS in words or not words:
        return TOO_FEW_SEEDS
    distinct = set(words)
    if len(distinct) == 1:
        return words[0]
    if distinct == {"reproduced", "partly"}:
        return "partly"
    if "inconclusive" in distinct:
        return "inconclusive"
    return SETS_DISAGREE


def restrict(comparison: dict, which: int) -> dict:
    """A saved comparison restricted to replication set ``which`` (0 or 1) of its seeds
    (:func:`wormhole.seeding.seed_sets`): every per-seed list keeps that set's entries."""
    seeds = comparison.get("config", {}).get("seeds")
    if seeds is None:   # positions, for a record that does not name its seeds
        first = next(iter(comparison["methods"].values()))
        seeds = range(len(next(iter(first["per_seed_loss"].values()))))
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2:
        return {**comparison, "config": {**comparison.get("config", {}), "seeds": seeds[:which == 0]}}
    keep = set(seed_sets(seeds)[which])
    index = [i for i, s in enumerate(seeds) if s in keep]

    def cut(values):
        if isinstance(values, dict):
            return {k: cut(v) for k, v in values.items()}
        return [values[i] for i in index]

    methods = {}
    for name, m in comparison["methods"].items():
        methods[name] = {k: (cut(v) if k.startswith("per_seed_") else v) for k, v in m.items()}
        if "seeds" in m:
            methods[name]["seeds"] = [m["seeds"][i] for i in index]
    return {**comparison, "config": {**comparison.get("config", {}), "seeds": [seeds[i] for i in index]},
            "methods": methods}


def compare_saved(comparison: dict, baseline: str, candidate: str, metric: str, *, steps: int = 1,
                  n_comparisons: int = 1) -> Evidence:
    """The paired comparison of two methods of a saved comparison (:func:`wormhole.stats.paired`)."""
    methods = comparison["methods"]
    base = per_seed(methods[baseline], metric, steps)
    result = paired(per_seed(methods[candidate], metric, steps), base,
                    higher_is_better=HIGHER_IS_BETTER[metric], n_comparisons=n_comparisons,
                    margin=margin_for(metric, base), label=f"{comparison['name']} · {candidate} vs {baseline} · {metric_label(metric, steps)}")
    return Evidence(comparison["name"], candidate, baseline, metric, steps, result)


def trained_steps(comparison: dict, method: str) -> int:
    """The number of inner steps ``method`` was trained (and selected) with, among the evaluated ones
    (the nearest evaluated count when its own was not evaluated)."""
    m = comparison["methods"][method]
    evaluated = sorted(int(k) for k in m["per_seed_loss"])
    own = int(m.get("learner", {}).get("steps", 1))
    return own if own in evaluated else min(evaluated, key=lambda s: (abs(s - own), s))


def selection_metric(comparison: dict) -> str:
    """The metric a comparison's methods were selected on (its tuning record's), else the judged
    metric of its training family's loss (:func:`wormhole.evaluation.judged_metric`)."""
    tuning = comparison.get("config", {}).get("tuning")
    if tuning and tuning.get("budget", {}).get("metric"):
        return tuning["budget"]["metric"]
    methods = comparison.get("methods", {})
    loss = next((m.get("learner", {}).get("loss") for m in methods.values()), None)
    return judged_metric(loss)


def learned_by(comparison: dict, method: str, threshold: float = 0.02) -> bool:
    """Whether ``method`` learned the problem **where it was trained and selected**: after its own
    training number of inner steps (:func:`trained_steps`), its selection metric
    (:func:`selection_metric`) is at least ``threshold`` (relative) better than before adaptation:
    loss at most ``(1 − threshold)`` times, accuracy at least ``(1 + threshold)`` times the value
    at 0 steps. Means over the seeds where both values are finite; a method that diverged on every
    seed did not learn. What it does at step counts it was not trained for does not matter here."""
    metric = selection_metric(comparison)
    values = comparison["methods"][method][f"per_seed_{metric}"]
    steps = trained_steps(comparison, method)
    before, after = np.asarray(values["0"], dtype=float), np.asarray(values[str(steps)], dtype=float)
    ok = np.isfinite(before) & np.isfinite(after)
    if not ok.any():
        return False
    b, a = before[ok].mean(), after[ok].mean()
    return bool(a < (1 - threshold) * b if metric == "loss" else a > (1 + threshold) * b)


def learned(comparison: dict, threshold: float = 0.02) -> bool:
    """The book's one exclusion rule: a problem stays in the comparisons unless *no* method
    learned it (:func:`learned_by`: at its trained step count, on its selection metric); there
    every difference is noise around a constant."""
    return any(learned_by(comparison, m, threshold) for m in comparison["methods"])


#: one candidate against one baseline: ``(comparison, baseline, candidate, metric, steps)``
Candidate = tuple


@dataclass
class Claim:
    """One claim of the abstract (``key``: a short name, e.g. ``"helps-mnist"``): its units (each a
    list of :class:`Evidence`, MAML first), the judgement (one outcome per unit), what was left out,
    and ``secondary`` comparisons that are shown but not judged (other step counts)."""

    key: str
    claim: str
    units: list[list[Evidence]]
    judgement: Judgement | None
    excluded: list[Evidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    secondary: list[Evidence] = field(default_factory=list)
    set_judgements: tuple = ()
    set_aside: list = field(default_factory=list)

    @property
    def title(self) -> str:
        """The claim in a few words, for the first column of the results table (:data:`TITLES`;
        the full statement folds out with the evidence)."""
        return TITLES.get(self.key, self.claim)

    @property
    def evidence(self) -> list[Evidence]:
        """Every comparison of every unit, in order."""
        return [e for unit in self.units for e in unit]

    @property
    def pooled_verdict(self) -> str:
        """The verdict over every seed of both sets together (``"no measurements"`` when nothing
        measured it)."""
        return self.judgement.verdict if self.judgement else "no measurements"

    @property
    def set_verdicts(self) -> tuple[str, ...]:
        """The verdict on each replication set of seeds on its own (``"too few seeds"`` where a
        set has fewer than 2 seeds in some comparison)."""
        return tuple(j.verdict if isinstance(j, Judgement) else j for j in self.set_judgements)

    @property
    def verdict(self) -> str:
        """The claim's final word from its two seed sets' verdicts (:func:`final_word`;
        :data:`NOT_JUDGED` when every fair fight that would judge it failed the protocol, its
        names in ``set_aside``; ``"no measurements"`` when nothing measured it)."""
        if not self.judgement:
            return NOT_JUDGED if self.set_aside else "no measurements"
        return final_word(self.set_verdicts)

    @property
    def flip_distance(self) -> float:
        """How near the final word is to changing: the smallest flip distance (in half-widths of a
        95% interval, :attr:`wormhole.stats.Paired.flip_distance`) of any unit in either seed set
        (the pooled judgement where the sets were not judged); NaN when nothing was measured."""
        judgements = [j for j in self.set_judgements if isinstance(j, Judgement)] or (
            [self.judgement] if self.judgement else [])
        ds = [j.flip_distance for j in judgements if np.isfinite(j.flip_distance)]
        return float(min(ds)) if ds else float("nan")

    @property
    def borderline(self) -> bool:
        """Whether the final word rests on a unit within :data:`wormhole.stats.BORDERLINE`
        half-widths of changing its outcome, in either seed set."""
        return bool(self.flip_distance < BORDERLINE)

    def unit_outcomes(self) -> list[tuple[list[Evidence], str]]:
        """``(unit, outcome)`` for every judged unit."""
        return list(zip(self.units, self.judgement.outcomes)) if self.judgement else []


#: a few words per claim of the results page (its full statement folds out with the evidence)
TITLES = {"conflict-training": "eases conflicting gradients, during training",
          "conflict-end": "eases conflicting gradients, at the end of training",
          "dynamics": "improves training dynamics",
          "expressivity": "raises expressivity",
          "helps-threshold": "helps on the threshold problem",
          "helps-wavelet": "helps on wavelet regression",
          "helps-mnist": "helps on MNIST (MLP)",
          "helps": "the wormhole helps"}


def _as_units(candidates) -> list[list[Candidate]]:
    """A flat list of candidate tuples (each its own unit) or a list of units (lists of tuples)."""
    units = []
    for c in candidates:
        if isinstance(c, tuple) and len(c) == 5 and isinstance(c[0], dict):
            units.append([c])
        else:
            unit = list(c)
            if not unit:
                raise ValueError("a unit must hold at least one (comparison, baseline, candidate, metric, steps)")
            units.append(unit)
    return units


def judge_claim(key: str, claim: str, candidates, notes=(), secondary=(), *, set_aside=()) -> Claim:
    """Judge one claim. ``candidates``: units, each a list of ``(comparison, baseline, candidate,
    metric, steps)`` tuples with the reference baseline (MAML) first (a bare tuple is a unit of
    one). Units on problems no method learned are excluded; the rest are judged together
    (intersection–union within a unit, Holm across units). ``secondary`` tuples are compared and
    shown, never judged. ``set_aside``: the names of fair fights left out because they failed the
    protocol (:func:`unconverged`), kept on the claim so that the page can say why."""
    units = _as_units(candidates)
    kept = [u for u in units if learned(u[0][0]) or u[0][3].startswith("added_directions")]
    left = [c for u in units if u not in kept for c in u]
    evidence = [[compare_saved(c, b, k, m, steps=s, n_comparisons=len(kept)) for c, b, k, m, s in u] for u in kept]
    excluded = [compare_saved(c, b, k, m, steps=s) for c, b, k, m, s in left]
    shown = [compare_saved(c, b, k, m, steps=s) for c, b, k, m, s in secondary]
    judgement = judge_units([[e.result for e in u] for u in evidence]) if evidence else None
    sets = tuple(_judge_set(kept, which) for which in range(2)) if evidence else ()
    return Claim(key, claim, evidence, judgement, excluded, list(notes), shown, sets, list(set_aside))


def _judge_set(units: list[list[Candidate]], which: int):
    """The judgement of ``units`` on replication set ``which`` of each comparison's seeds alone."""
    restricted: dict[int, dict] = {}
    out = []
    for unit in units:
        row = []
        for c, b, k, m, s in unit:
            r = restricted.setdefault(id(c), restrict(c, which))
            if len(r["config"]["seeds"]) < 2:
                return TOO_FEW_SEEDS
            row.append(compare_saved(r, b, k, m, steps=s, n_comparisons=len(units)).result)
        out.append(row)
    return judge_units(out)


#: the settings a grid varies, with the symbols the chapters use
SETTINGS = (("inner_lr", "α"), ("wormhole_lr", "α_w"), ("learn_wormhole_lr", "α_w learned"),
            ("wormhole_init", "w₀"))


def setting_values(records: list[dict], key: str) -> str:
    """The values ``key`` takes over ``records``, short: all of them, or for a long list the
    range and how many (``"0.04 … 4 (36 values)"``); ``"—"`` where no record has it."""
    vals = sorted({r[key] for r in records if key in r}, key=lambda v: (isinstance(v, bool), v))
    if len(vals) > 5:
        return f"{short(vals[0])} … {short(vals[-1])} ({len(vals)} values)"
    return ", ".join(short(v) for v in vals) if vals else "—"


def selected_table(summary: dict, title: str = ""):
    """:meth:`wormhole.tuning.Tuning.summary` (or the ``config["tuning"]`` of a saved comparison) as
    a :class:`wormhole.display.Table`: per method, the selected value of each setting (the grid's
    values after "of"), its validation loss and how many configurations diverged."""
    from .display import table

    rows, edges = [], []
    for name, m in summary["methods"].items():
        chosen = m["selected_learner"]
        grid = [g["learner"] for g in m["grid"]]
        score = m["grid"][m["selected"]]["validation_score"]
        rows.append([name, *[f"{short(chosen[k])} (of {setting_values(grid, k)})" if k in chosen else "—"
                             for k, _ in SETTINGS],
                     fmt(*score) if score[0] is not None else "diverged", str(sum(g["diverged"] for g in m["grid"]))])
        symbols = dict(SETTINGS)
        edges += [f"{name}: {symbols.get(k, k)} at the {where} value tried" for k, where in m.get("at_edge", {}).items()]
    budget = summary["budget"]
    metric = budget.get("metric", "loss")
    note = (f"budget per method: {budget['configurations']} configurations × {budget['iterations']} meta-iterations × "
            f"{len(budget['seeds'])} tuning seeds; selection: {summary['rule']}"
            + (f"; AT THE EDGE OF ITS RANGE (the best value may lie outside it): {'; '.join(edges)}" if edges else ""))
    return table(rows, header=["method", *[f"{sym}" for _, sym in SETTINGS], f"validation {metric}", "diverged"],
                 note=note, title=title)


def short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) and not isinstance(v, bool) else str(v)



def tuned(comparison: dict) -> bool:
    """Whether a saved comparison is a fair fight's (:func:`wormhole.tuning.compare_selected`)."""
    return bool(comparison.get("config", {}).get("tuned_methods"))


def carried_over(comparison: dict) -> bool:
    """Whether a saved comparison's settings were selected on another model and carried over
    (:func:`wormhole.tuning.carry_over`): tuned elsewhere, not here."""
    return bool(comparison.get("config", {}).get("carried_over_to"))


def unconverged(comparison: dict) -> bool:
    """Whether a saved fair fight's selected methods were still moving at the cap of their
    convergence check (``config["convergence"]``): not trained as long as the protocol asks."""
    record = comparison.get("config", {}).get("convergence")
    return bool(record) and not record.get("converged", True)


def _headline(metrics: dict[str, dict], problem: str, conflicting_only: bool = True) -> list[dict]:
    """The comparisons a claim about ``problem`` rests on: the tuned ones where the problem has
    any (the fair fight replaces the package defaults; a fight not trained until flat is set
    aside, :func:`unconverged`, and never replaced by the defaults), else the default ones.
    Carried-over settings are never judged (:func:`carried_over`)."""
    found = [m for m in metrics.values() if m.get("config", {}).get("problem") == problem
             and "methods" in m and not (conflicting_only and m["config"].get("control")) and not carried_over(m)]
    fights = [m for m in found if tuned(m)]
    return [m for m in fights if not unconverged(m)] if fights else found


def _set_aside(metrics: dict[str, dict], problems) -> list[str]:
    """The names of the fair fights of ``problems`` that :func:`_headline` leaves out."""
    return [m["name"] for m in metrics.values() if m.get("config", {}).get("problem") in problems
            and tuned(m) and unconverged(m) and not m["config"].get("control") and not carried_over(m)]


def against_maml(comparisons: list[dict], metrics: tuple, steps=None, baselines: tuple = ("MAML",)) -> list[list]:
    """Units of every wormhole variant against its baselines, on each comparison, metric and
    number of steps: each unit a list of ``(comparison, baseline, candidate, metric, steps)`` with
    MAML first.

    On a tuned comparison the candidate is the tuned ``"Wormhole"`` alone (the package defaults
    trained beside it are shown in the chapters, not judged here) and the baselines are
    ``baselines`` (those the comparison has); elsewhere each variant is compared with MAML.
    ``steps=None``: the candidate's training number of inner steps (:func:`trained_steps`)."""
    out = []
    for c in comparisons:
        methods = c["methods"]
        if tuned(c):
            variants = ["Wormhole"] if "Wormhole" in methods else []
            bases = [b for b in ("MAML", *[b for b in baselines if b != "MAML"]) if b in methods]
        else:
            variants, bases = [v for v in WORMHOLE_VARIANTS if v in methods], ["MAML"]
        for v in variants:
            for metric in metrics:
                for s in ((steps or (trained_steps(c, v),)) if metric in ("loss", "accuracy") else (1,)):
                    out.append([(c, b, v, metric, s) for b in bases])
    return out


PROBLEMS = (("threshold comparison", "threshold"), ("wavelet regression", "wavelet"), ("MNIST", "mnist"))
#: the step count shown beside the trained one, as secondary evidence (never judged)
SECONDARY_STEPS = 10


def _helps(key: str, problem: str, comparisons: list[dict], label: str, set_aside=()) -> Claim:
    units, secondary = [], []
    for c in comparisons:
        metric = selection_metric(c)
        units += against_maml([c], (metric,), baselines=("MAML", *ABLATIONS))
        if learned(c):
            secondary += [t for u in against_maml([c], (metric,), steps=(SECONDARY_STEPS,), baselines=("MAML",))
                          for t in u if t[4] != trained_steps(c, t[2])
                          and str(SECONDARY_STEPS) in c["methods"][t[2]]["per_seed_loss"]]
    metric = selection_metric(comparisons[0]) if comparisons else "the judged metric"
    return judge_claim(key, f"helps on {problem}{label} ({metric} after the trained number of inner steps, the one "
                            "it was selected on; conflicting tasks; a tuned Wormhole must beat tuned MAML and both "
                            "ablations in the same unit)", units, secondary=secondary, set_aside=set_aside)


def claims(metrics: dict[str, dict], keys=None) -> list[Claim]:
    """One :class:`Claim` per claim of the abstract, from the saved comparisons of the headline
    problems (those saved with ``problem=`` threshold, wavelet or mnist) and of chapter 6
    (``problem="expressivity"``); only the claims named in ``keys`` when it is given.

    Comparisons whose settings were carried over from another model (not tuned on it, at a
    budget not checked for convergence) and fair fights not trained until flat
    (:func:`unconverged`) are never judged: :func:`exploratory` lists them, and a claim left with
    nothing to judge reads :data:`NOT_JUDGED`."""
    headline = [c for _, p in PROBLEMS for c in _headline(metrics, p)]
    aside = _set_aside(metrics, [p for _, p in PROBLEMS])
    rows = [
        judge_claim("conflict-training", "eases conflicting gradients (mean cosine of per-task meta-gradients in θ "
                    "over training; a tuned Wormhole must beat tuned MAML and the learned scale)",
                    against_maml(headline, ("conflict_during_training",), baselines=CONFLICT_BASELINES),
                    set_aside=aside),
        judge_claim("conflict-end", "eases conflicting gradients (at the end of training; against MAML and the "
                    "learned scale)", against_maml(headline, ("conflict",), baselines=CONFLICT_BASELINES),
                    set_aside=aside),
        judge_claim("dynamics", "improves training dynamics (query loss after the trained number of inner steps)",
                    against_maml(headline, ("loss",)), set_aside=aside),
    ]
    expressivity = [m for m in metrics.values() if m.get("config", {}).get("problem") == "expressivity"]
    cands = []
    for c in expressivity:   # directions where they were measured (MAML is the baseline), else accuracy
        measured = [v for v in c["methods"] if "per_seed_added_directions" in c["methods"][v]]
        for v in [v for v in (measured or c["methods"]) if v != "MAML"]:
            for metric in (("added_directions", "added_directions_adapted") if measured else ("accuracy",)):
                cands.append((c, "MAML", v, metric, 1))
    theory = metrics.get("theory-expressivity", {})
    notes = [f"first-order check ({k}): {r['added']} added direction(s) for {r['multipliers']} multiplier(s) "
             f"at w = {r['w']}" for k, r in theory.get("added_directions", {}).items()]
    rows.append(judge_claim("expressivity", "raises expressivity in a controllable way (new function-space directions; "
                            "5-way MNIST accuracy)", cands, notes))
    for problem, key in PROBLEMS:
        rows.append(_helps(f"helps-{key}", problem, _headline(metrics, key), "", _set_aside(metrics, (key,))))
    return [r for r in rows if keys is None or r.key in keys]


def exploratory(metrics: dict[str, dict]) -> list[str]:
    """One line per saved comparison of a headline problem that the protocol does not let the
    results page judge: settings carried over from another model (:func:`carried_over`), so not
    tuned on this one and trained at a budget never checked for convergence, and fair fights whose
    selected methods were still moving at the cap (:func:`unconverged`). Each line gives the
    Wormhole − MAML difference on the selection metric after the trained number of inner steps,
    paired over all its seeds, and no verdict word."""
    lines = []
    for problem, key in PROBLEMS:
        for c in [m for m in metrics.values() if m.get("config", {}).get("problem") == key
                  and (carried_over(m) or (tuned(m) and unconverged(m))) and not m["config"].get("control")]:
            if not {"MAML", "Wormhole"} <= set(c["methods"]):
                continue
            metric = selection_metric(c)
            e = compare_saved(c, "MAML", "Wormhole", metric, steps=trained_steps(c, "Wormhole"))
            note = e.result.divergence_note()
            iterations = c["config"].get("iterations", "?")
            why = (f"{c['config']['carried_over_to']} (settings carried over from another model, {iterations} "
                   "meta-iterations, not checked for convergence)" if carried_over(c) else
                   f"{c['name']} (still moving at the cap of {iterations} meta-iterations: "
                   f"{', '.join(m for m, r in c['config']['convergence']['methods'].items() if not r['converged'])})")
            lines.append(f"{problem}, {why}: Wormhole − MAML, {metric_label(e.metric, e.steps)}, "
                         f"{e.result.difference_text()} over {e.result.n} seeds" + (f" ({note})" if note else "")
                         + "; exploratory, no verdict")
    return lines


def detectable_by_metric(claim: Claim) -> dict[str, float]:
    """The smallest difference the claim's comparisons would detect (80% power, corrected
    level), per kind of measurement: the largest over the comparisons of that kind."""
    out: dict[str, float] = {}
    for e in claim.evidence:
        kind = metric_label(e.metric, e.steps).split("@")[0]
        if np.isfinite(e.result.detectable):
            out[kind] = max(out.get(kind, 0.0), e.result.detectable)
    return out


def _evidence_line(e: Evidence, outcome: str | None = None) -> str:
    r = e.result
    note = r.divergence_note()
    diverged = f"; {note}" if note else ""
    tail = f" → <b>{outcome}</b>" if outcome else ""
    return (f"{html.escape(e.name)} · {html.escape(e.candidate)} − {html.escape(e.baseline)}, "
            f"{html.escape(metric_label(e.metric, e.steps))}: {r.difference_text()}{diverged}{tail}")


def margin_text(r: Paired) -> str:
    """``"margin ± 0.02"`` (``""`` without one)."""
    return f"margin ± {r.margin:.3g}" if np.isfinite(r.margin) else ""


def flip_text(distance: float) -> str:
    """``"1.7 half-widths from flipping"`` (with *borderline* below :data:`wormhole.stats.BORDERLINE`)."""
    if not np.isfinite(distance):
        return "—"
    mark = " · borderline" if distance < BORDERLINE else ""
    return f"{distance:.2g} half-widths{mark}"


def _unit_line(unit: list[Evidence], outcome: str, distance: float = float("nan")) -> str:
    head = unit[0]
    against = ", ".join(html.escape(e.baseline) for e in unit)
    parts = "; ".join(f"− {html.escape(e.baseline)}: {e.result.difference_text()} ({margin_text(e.result)}"
                      + (f", {html.escape(e.result.divergence_note())}" if e.result.divergence_note() else "") + ")"
                      for e in unit)
    return (f"{html.escape(head.name)} · {html.escape(head.candidate)} vs {against}, "
            f"{html.escape(metric_label(head.metric, head.steps))}: {parts} → <b>{outcome}</b>"
            f" ({flip_text(distance)})")


def strongest(claim: Claim) -> str:
    """The claim's strongest evidence in one line: the significant unit with the largest
    improvement over its reference baseline (else the largest improvement), with the counts."""
    if not claim.judgement:
        return ("its fair fight was still moving at the cap of its convergence check: not judged"
                if claim.set_aside else "no metrics saved")
    pairs = claim.unit_outcomes()
    c = claim.judgement.counts()
    significant = [(u, o) for u, o in pairs if o in ("better", "worse")] or pairs
    unit, outcome = max(significant, key=lambda p: abs(p[0][0].result.improvement)
                        if np.isfinite(p[0][0].result.improvement) else -1)
    e = unit[0]
    return (f"{c['better']} of {len(pairs)} units better, {c['worse']} worse, {c['no practical difference']} "
            f"no practical difference; e.g. {e.name}, "
            f"{metric_label(e.metric, e.steps)}: {e.candidate} − {e.baseline} {e.result.difference_text()} ({outcome})")


def html_table(rows: list[Claim]) -> str:
    """The claims as a compact HTML table, one row per claim: the claim, its verdict, and its
    strongest evidence in one line; under it, folded, every unit's paired differences (candidate
    − baseline, mean ± 95% CI over seeds) and outcome after Holm, the smallest detectable
    difference, what was excluded and what is shown but not judged."""
    head = ("<tr><th>claim</th><th>final word</th><th>seed set 1</th><th>seed set 2</th>"
            "<th>closest to flipping</th>"
            "<th>strongest evidence, both sets pooled (details fold out)</th></tr>")
    body = []
    for r in rows:
        if r.judgement:
            lines = [_unit_line(u, o, d) for (u, o), d in zip(r.unit_outcomes(), r.judgement.unit_distances)]
            lines.append(f"<i>{r.judgement.diverged} diverged run(s); pooled over both seed sets: "
                         f"{html.escape(r.pooled_verdict)}</i>")
            detect = detectable_by_metric(r)
            if detect:
                lines.append("smallest detectable difference: " + "; ".join(
                    f"{html.escape(k)} {v:.3g}" for k, v in detect.items()))
        else:
            lines = ["no metrics saved"] if not r.set_aside else []
        lines += [f"<i>set aside (a fair fight still moving at the cap of its convergence check; exploratory)</i>: "
                  f"{html.escape(name)}" for name in r.set_aside]
        lines += [f"<i>excluded (no method learned the problem where it was trained)</i>: "
                  f"{html.escape(e.name)} · {html.escape(e.candidate)} − {html.escape(e.baseline)}, "
                  f"{html.escape(metric_label(e.metric, e.steps))}: {e.result.difference_text()}" for e in r.excluded]
        lines += [f"<i>shown, not judged</i>: {html.escape(e.name)} · {html.escape(e.candidate)} − "
                  f"{html.escape(e.baseline)}, {html.escape(metric_label(e.metric, e.steps))}: "
                  f"{_secondary_text(e)}" for e in r.secondary]
        lines += [html.escape(n) for n in r.notes]
        lines.insert(0, f"<i>the claim in full</i>: {html.escape(r.claim)}")
        details = f"<details><summary>{html.escape(strongest(r))}</summary>{'<br>'.join(lines)}</details>"
        sets = "".join(f"<td>{html.escape(v)}</td>" for v in (r.set_verdicts or ("—", "—")))
        flip = f'<td data-borderline="{str(r.borderline).lower()}">{html.escape(flip_text(r.flip_distance))}</td>'
        body.append(f'<tr><td data-claim="{html.escape(r.key)}">{html.escape(r.title)}</td>'
                    f"<td><b>{html.escape(r.verdict)}</b></td>{sets}{flip}"
                    f"<td>{details}</td></tr>")
    return f'<table class="wormhole-results">\n<thead>{head}</thead>\n<tbody>\n' + "\n".join(body) + "\n</tbody></table>"


def _secondary_text(e: Evidence) -> str:
    """A comparison at a step count the methods were not trained for: a diverged side reads
    "diverged", never as a number."""
    r = e.result
    sides = [side for side, n in ((e.candidate, r.diverged_candidate), (e.baseline, r.diverged_baseline)) if n]
    if r.diverged_both:
        sides = [e.candidate, e.baseline]
    if sides:
        return f"diverged ({', '.join(html.escape(s) for s in sides)}) at a step count it was not trained for"
    return r.difference_text()


#: the colour of each unit outcome in the book's figures
OUTCOME_COLOURS = {"better": "C2", "worse": "C3", "no practical difference": "C0", "inconclusive": "0.4"}


def forest_plot(rows: list[Claim]):
    """Exactly the comparisons of :func:`html_table`, one panel per judged claim, titled with the
    claim and its final word, on its own scale: the improvement of the candidate over the baseline
    (paired, mean and 95% CI; right of 0 is better), coloured by its unit's outcome
    (:data:`OUTCOME_COLOURS`; filled where better or worse), over a grey band that spans the
    practical margin ± m of its metric. Diverged values are left out of the axes. ``None`` when
    no claim has a judgement."""
    import matplotlib.pyplot as plt

    from .plotting import COLUMN_INCHES, STYLE

    panels = []
    for r in rows:
        items, seen = [], set()
        for unit, outcome in r.unit_outcomes():
            for e in unit:
                key = (e.name, e.candidate, e.baseline, e.metric, e.steps)
                if key not in seen:   # one row per comparison, however many units share it
                    seen.add(key)
                    items.append((e, outcome))
        if items:
            panels.append((r, items))
    if not panels:
        return None   # nothing was judged: no figure
    heights = [sum(0.22 + 0.15 * _forest_label(e, items).count("\n") for e, _ in items) + 1.0
               for _, items in panels]
    with plt.rc_context(STYLE):
        return _forest(plt, panels, heights, COLUMN_INCHES)


#: the x-axis of a forest panel, by the kind of metric it shows
IMPROVEMENT_AXIS = {"loss": "query-loss reduction", "accuracy": "accuracy gain",
                    "conflict": "gradient-agreement gain (less conflict)", "added": "added directions"}


def _metric_kind(metric: str) -> str:
    return metric.split("_")[0] if metric.startswith(("conflict", "added")) else metric


#: a forest row's metric in a few characters, where a panel mixes metrics
_SHORT_METRIC = {"added_directions": "directions", "added_directions_adapted": "directions, adapted",
                 "conflict": "agreement, end", "conflict_during_training": "agreement"}


def _forest_label(e: Evidence, items) -> str:
    """A forest row's label, wrapped to two short lines: comparison, candidate vs baseline, and the
    metric where the panel mixes several."""
    import textwrap

    metrics = {x.metric for x, _ in items}
    steps = f"@{e.steps}" if e.metric in ("loss", "accuracy") else ""
    suffix = f" ({_SHORT_METRIC.get(e.metric, e.metric)}{steps})" if len(metrics) > 1 else ""
    return "\n".join(textwrap.wrap(f"{e.name}: {e.candidate} vs {e.baseline}{suffix}", 36)[:3])


def _forest(plt, panels, heights, width):
    from matplotlib.ticker import MaxNLocator

    from .display import hide_diverged

    fig, axes = plt.subplots(len(panels), 1, figsize=(width, sum(heights) + 0.3), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (claim, items) in zip(axes[:, 0], panels):
        y = np.arange(len(items))
        kinds = list(dict.fromkeys(_metric_kind(e.metric) for e, _ in items))
        for i, (e, outcome) in enumerate(items):
            r = e.result
            if np.isfinite(r.margin):   # the practical margin: inside it, no difference matters
                ax.fill_betweenx([i - 0.35, i + 0.35], -r.margin, r.margin, color="0.88", lw=0)
            colour = OUTCOME_COLOURS[outcome]
            ax.errorbar(hide_diverged(r.improvement), i, xerr=hide_diverged(r.half_width), fmt="o", capsize=2,
                        color=colour, mfc=colour if outcome in ("better", "worse") else "white")
        ax.axvline(0, color="k", lw=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))   # tick labels that never touch
        ax.set_yticks(y, [_forest_label(e, items) for e, _ in items], fontsize=8.5)
        ax.invert_yaxis()
        ax.set_xlabel(" / ".join(IMPROVEMENT_AXIS.get(k, k) for k in kinds), labelpad=2)
        ax.set_title(f"{claim.key}: {claim.verdict}" + (" (borderline)" if claim.borderline else ""),
                     loc="left", fontsize=9.5)
    fig.tight_layout(h_pad=0.6)
    return fig


def key_figure(key: str, claims) -> None:
    """Glue a chapter's key figure as ``key`` for ``{glue:figure}`` at the top of its page: the
    forest plot of its judged claims (:func:`wormhole.report.forest_plot`, one panel per claim),
    or, where nothing could be judged at the size that ran, a figure that says so."""
    import matplotlib.pyplot as plt

    from .book import glue
    from .plotting import COLUMN_INCHES

    fig = forest_plot(list(claims))
    if fig is None:
        fig, ax = plt.subplots(figsize=(COLUMN_INCHES, 1.2))
        ax.text(0.5, 0.5, "nothing could be judged at the size that ran", ha="center", va="center")
        ax.axis("off")
    glue(key, fig)
    plt.close(fig)


def tuning_table(metrics: dict[str, dict]) -> str:
    """For every tuned comparison (in the order of the headline problems): the problem, and per
    method the grid, the selected setting, the budget and the iterations the selected settings
    trained for; HTML."""
    parts = []
    for problem, key in PROBLEMS:
        for c in [m for m in metrics.values() if m.get("config", {}).get("problem") == key and tuned(m)]:
            conv = c["config"].get("convergence", {})
            moving = [m for m, r in conv.get("methods", {}).items() if not r["converged"]]
            state = ("every method converged" if conv.get("converged") else
                     f"not converged at the cap: {', '.join(moving) or 'MAML'}")
            per_method = "; ".join(f"{m} flat at {r['iterations']}" if r["converged"] else f"{m} still moving"
                                   for m, r in conv.get("methods", {}).items())
            b = c["config"]["tuning"].get("budget", {})
            searched = (f"; searched by successive halving, {' → '.join(map(str, b['survivors']))} configurations "
                        f"per method at {' → '.join(map(str, b['rungs']))} iterations" if "rungs" in b else "")
            trained = searched + (f"; the selected settings trained for {c['config']['iterations']} meta-iterations, the "
                       f"largest budget any method needed ({state}{': ' + per_method if per_method else ''}) "
                       f"on {len(c['config']['seeds'])} fresh seeds" if conv else "")
            moved = "; ".join(f"{name}: " + ", ".join(f"{q} {a:.3g} → {b:.3g}" for q, (a, b) in
                                                      m.get("meta_learned", {}).items())
                              for name, m in c["methods"].items() if m.get("meta_learned"))
            moved = (f"<p>how far the meta-learned quantities moved in training (start → mean over seeds at the end): "
                     f"{html.escape(moved)}</p>" if moved else "")
            sets = c["config"].get("tuning_sets") or [c["config"]["tuning"]]
            def widened(t):
                past = [_setting_words(w) for w in t.get("budget", {}).get("widened", [])]
                return f" (widened: {'; '.join(past)})" if past else ""

            tables = "".join(selected_table(t, title=(f"seed set {i + 1}" if len(sets) > 1 else "") + widened(t))
                             ._repr_html_() for i, t in enumerate(sets))
            parts.append(f"<p><b>{html.escape(problem)}: {html.escape(c['name'])}</b>{html.escape(trained)}</p>"
                         + tables + moved)
    return "\n".join(parts) if parts else "<p>no tuned comparisons were saved</p>"


def _setting_words(reason: str) -> str:
    """A widening's reason with the setting's symbol: ``"inner_lr past its highest value"`` → ``"α past its
    highest value"`` (a reason of older records, ``"highest"``, is about α)."""
    key, _, rest = reason.partition(" ")
    symbols = dict(SETTINGS)
    return f"{symbols[key]} {rest}" if key in symbols and rest else f"α past its {reason} value"


def describe(claim: Claim) -> str:
    """One sentence about a judged claim, e.g. for a chapter's generated findings."""
    if not claim.judgement:
        if claim.set_aside:
            return (f"{claim.claim}: **{NOT_JUDGED}**: its fair fight ({', '.join(claim.set_aside)}) was still moving "
                    "at the cap of its convergence check, so it does not meet the protocol (shown as exploratory).")
        return f"{claim.claim}: no measurements."
    sets = " and ".join(claim.set_verdicts)
    mark = (f" It is *borderline*: a unit lies {claim.flip_distance:.2g} half-widths from changing its outcome."
            if claim.borderline else "")
    if claim.verdict == TOO_FEW_SEEDS:
        return (f"{claim.claim}: a seed set has **{TOO_FEW_SEEDS}** to be judged on its own (both pooled: "
                f"{claim.pooled_verdict}).")
    if claim.verdict == SETS_DISAGREE:
        return (f"{claim.claim}: the **{SETS_DISAGREE}** (the two disjoint seed sets say {sets}; both pooled: "
                f"{claim.pooled_verdict}).{mark}")
    if len(set(claim.set_verdicts)) > 1:
        return (f"{claim.claim}: **{claim.verdict}**, what both disjoint seed sets support (they say {sets}; "
                f"both pooled: {claim.pooled_verdict}).{mark}")
    c = claim.judgement.counts()
    sizes = "; ".join(f"{v:.3g} in {k}" for k, v in detectable_by_metric(claim).items())
    tail = (f"; a true difference larger than about {sizes} would most likely have been detected"
            if claim.verdict == "inconclusive" and sizes else "")
    return (f"{claim.claim}: **{claim.verdict}** on both disjoint seed sets (pooled: {c['better']} of "
            f"{len(claim.units)} units better, {c['worse']} worse, {c['no practical difference']} inside the "
            f"practical margin, after Holm–Bonferroni on each test{tail}).{mark}")


def margins_table():
    """The practical margin of every judged metric with its reason (:mod:`wormhole.margins`), as a
    :class:`wormhole.display.Table`."""
    from .display import table

    rows = [[m.metric, f"{m.size:.0%} of the baseline's mean" if m.relative else f"{m.size:g}", m.reason]
            for m in MARGINS.values()]
    return table(rows, header=["metric", "margin (±)", "why this size"])


__all__ = ["ABLATIONS", "CONFLICT_BASELINES", "SETTINGS", "Claim", "Evidence", "against_maml", "carried_over", "claims",
           "selection_metric", "strongest", "trained_steps", "CHAPTER_METRICS", "missing_chapters", "FINAL_WORDS",
           "SETS_DISAGREE", "TOO_FEW_SEEDS", "NOT_JUDGED", "unconverged", "final_word", "exploratory", "margins_table", "flip_text", "restrict", "compare_saved", "describe", "fmt", "forest_plot", "html_table",
           "judge_claim", "learned", "learned_by", "load", "per_seed", "save_metrics", "selected_table", "setting_values", "tuned",
           "tuning_table", "key_figure"]
