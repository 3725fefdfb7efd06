"""The results page: the abstract's claims, judged from the metrics that the chapters saved.

Every chapter saves its comparisons as JSON (:meth:`wormhole.experiments.Comparison.save`);
this module reads them back and turns them into one row per claim. Nothing here is typed
by hand: every comparison is the paired difference of :mod:`wormhole.stats`, every verdict
is :func:`wormhole.stats.judge` over the comparisons that make up the claim (Holm–Bonferroni).

One exclusion rule (:func:`learned`): a problem leaves a claim only when *no* method learned
it; the excluded comparisons are listed with what they would have said.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checkpoints import atomic_write
from .book import metrics_dir, provenance
from .stats import Judgement, Paired, fmt, judge, paired

WORMHOLE_VARIANTS = ("Wormhole", "Wormhole-seam")
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


def metric_label(metric: str, steps: int = 1) -> str:
    """``"accuracy@1"``, ``"conflict (end of training)"``, ..."""
    return {"conflict": "conflict (end of training)", "conflict_during_training": "conflict (mean over training)",
            "loss": f"loss@{steps}", "accuracy": f"accuracy@{steps}",
            "added_directions": "added function-space directions (meta-learned start)",
            "added_directions_adapted": "added function-space directions (adapted)"}.get(metric, metric)


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


def compare_saved(comparison: dict, baseline: str, candidate: str, metric: str, steps: int = 1,
                  n_comparisons: int = 1) -> Evidence:
    """The paired comparison of two methods of a saved comparison (:func:`wormhole.stats.paired`)."""
    methods = comparison["methods"]
    result = paired(per_seed(methods[candidate], metric, steps), per_seed(methods[baseline], metric, steps),
                    higher_is_better=HIGHER_IS_BETTER[metric], n_comparisons=n_comparisons,
                    label=f"{comparison['name']} · {candidate} vs {baseline} · {metric_label(metric, steps)}")
    return Evidence(comparison["name"], candidate, baseline, metric, steps, result)


def learned_by(comparison: dict, method: str, threshold: float = 0.02) -> bool:
    """Whether ``method`` learned the problem: its query loss after the most inner steps
    evaluated is at least ``threshold`` (relative) below its loss before adaptation."""
    losses = comparison["methods"][method]["per_seed_loss"]
    most = max(losses, key=int)
    before, after = np.mean(losses["0"]), np.mean(losses[most])
    return bool(np.isfinite(after) and after < (1 - threshold) * before)


def learned(comparison: dict, threshold: float = 0.02) -> bool:
    """The book's one exclusion rule: a problem stays in the comparisons unless *no* method
    learned it (:func:`learned_by`); there every difference is noise around a constant."""
    return any(learned_by(comparison, m, threshold) for m in comparison["methods"])


@dataclass
class Claim:
    """One claim of the abstract (``key``: a short name, e.g. ``"helps-mnist"``): its comparisons,
    the judgement, and what was left out."""

    key: str
    claim: str
    evidence: list[Evidence]
    judgement: Judgement | None
    excluded: list[Evidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The claim's verdict word (``"no measurements"`` when nothing measured it)."""
        return self.judgement.verdict if self.judgement else "no measurements"


def judge_claim(key: str, claim: str, candidates: list[tuple[dict, str, str, str, int]], notes=()) -> Claim:
    """Judge one claim from ``(comparison, baseline, candidate, metric, steps)`` tuples: problems
    no method learned are excluded; the rest are compared and judged together (Holm)."""
    kept = [c for c in candidates if learned(c[0]) or c[3].startswith("added_directions")]
    left = [c for c in candidates if c not in kept]
    evidence = [compare_saved(c, b, k, m, s, n_comparisons=len(kept)) for c, b, k, m, s in kept]
    excluded = [compare_saved(c, b, k, m, s) for c, b, k, m, s in left]
    judgement = judge([e.result for e in evidence]) if evidence else None
    return Claim(key, claim, evidence, judgement, excluded, list(notes))


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

    rows = []
    for name, m in summary["methods"].items():
        chosen = m["selected_learner"]
        grid = [g["learner"] for g in m["grid"]]
        loss = m["grid"][m["selected"]]["validation_loss"]
        rows.append([name, *[f"{short(chosen[k])} (of {setting_values(grid, k)})" if k in chosen else "—"
                             for k, _ in SETTINGS],
                     fmt(*loss) if loss[0] is not None else "diverged", str(sum(g["diverged"] for g in m["grid"]))])
    budget = summary["budget"]
    note = (f"budget per method: {budget['configurations']} configurations × {budget['iterations']} meta-iterations × "
            f"{len(budget['seeds'])} tuning seeds; selection: {summary['rule']}")
    return table(rows, header=["method", *[f"{sym}" for _, sym in SETTINGS], "validation loss", "diverged"], note=note,
                 title=title)


def short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) and not isinstance(v, bool) else str(v)



def tuned(comparison: dict) -> bool:
    """Whether a saved comparison is a fair fight's (:func:`wormhole.tuning.compare_selected`)."""
    return bool(comparison.get("config", {}).get("tuned_methods"))


def _headline(metrics: dict[str, dict], problem: str, conflicting_only: bool = True) -> list[dict]:
    """The comparisons a claim about ``problem`` rests on: the tuned ones where the problem has
    any (the fair fight replaces the package defaults), else the default ones."""
    found = [m for m in metrics.values() if m.get("config", {}).get("problem") == problem
             and "methods" in m and not (conflicting_only and m["config"].get("control"))]
    return [m for m in found if tuned(m)] or found


#: the simpler explanations a tuned Wormhole must also beat before "the wormhole helps" is credited
ABLATIONS = ("learned scale", "learned step")


def against_maml(comparisons: list[dict], metrics: tuple, steps: tuple = (1,), ablations: bool = False) -> list[tuple]:
    """Every wormhole variant against MAML, on each comparison, metric and number of steps.

    On a tuned comparison the candidate is the tuned ``"Wormhole"`` alone (the package defaults
    trained beside it are shown in the chapters, not judged here), and with ``ablations`` it is
    compared with the tuned :data:`ABLATIONS` as well as with MAML: a claim is then reproduced
    only when the wormhole beats MAML *and* both simpler explanations."""
    out = []
    for c in comparisons:
        methods = c["methods"]
        if tuned(c):
            variants = ["Wormhole"] if "Wormhole" in methods else []
            baselines = ["MAML", *(ABLATIONS if ablations else ())]
        else:
            variants, baselines = [v for v in WORMHOLE_VARIANTS if v in methods], ["MAML"]
        for v in variants:
            for b in [b for b in baselines if b in methods]:
                for metric in metrics:
                    for s in (steps if metric in ("loss", "accuracy") else (1,)):
                        out.append((c, b, v, metric, s))
    return out


PROBLEMS = (("threshold comparison", "threshold", "accuracy"), ("wavelet regression", "wavelet", "loss"),
            ("MNIST", "mnist", "accuracy"))


def claims(metrics: dict[str, dict], keys=None) -> list[Claim]:
    """One :class:`Claim` per claim of the abstract, from the saved comparisons of the headline
    problems (those saved with ``problem=`` threshold, wavelet or mnist) and of chapter 6
    (``problem="expressivity"``); only the claims named in ``keys`` when it is given."""
    headline = [c for _, p, _ in PROBLEMS for c in _headline(metrics, p)]
    rows = [
        judge_claim("conflict-training", "eases conflicting gradients (mean cosine of per-task meta-gradients over training)",
                    against_maml(headline, ("conflict_during_training",))),
        judge_claim("conflict-end", "eases conflicting gradients (at the end of training)", against_maml(headline, ("conflict",))),
        judge_claim("dynamics", "improves training dynamics (query loss after the trained number of inner steps)",
                    against_maml(headline, ("loss",))),
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
    for problem, key, metric in PROBLEMS:
        rows.append(judge_claim(f"helps-{key}", f"helps on {problem} ({metric} after 1 and 10 inner steps, conflicting "
                                "tasks; a tuned Wormhole must beat tuned MAML and both ablations)",
                                against_maml(_headline(metrics, key), (metric,), steps=(1, 10), ablations=True)))
    return [r for r in rows if keys is None or r.key in keys]


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


def html_table(rows: list[Claim]) -> str:
    """The claims as an HTML table: each comparison's paired difference (candidate − baseline,
    mean ± 95% CI over seeds) and its outcome after Holm, the smallest detectable difference,
    what was excluded, and the verdict."""
    head = ("<tr><th>claim of the abstract</th><th>comparisons: paired difference candidate − baseline "
            "(mean ± 95% CI over seeds) → outcome after Holm</th><th>smallest detectable difference</th>"
            "<th>verdict</th></tr>")
    body = []
    for r in rows:
        if r.judgement:
            lines = [_evidence_line(e, o) for e, o in zip(r.evidence, r.judgement.outcomes)]
            counts = r.judgement.counts()
            lines.append(f"<i>{counts['better']} better, {counts['worse']} worse, {counts['tie']} not different; "
                         f"{r.judgement.diverged} diverged run(s)</i>")
            detectable = "<br>".join(f"{html.escape(k)}: {v:.3g}" for k, v in detectable_by_metric(r).items())
        else:
            lines, detectable = ["no metrics saved"], "—"
        lines += [f"<i>excluded (no method learned the problem)</i>: {_evidence_line(e)}" for e in r.excluded]
        lines += [html.escape(n) for n in r.notes]
        body.append(f"<tr><td>{html.escape(r.claim)}</td><td>{'<br>'.join(lines)}</td>"
                    f"<td>{detectable}</td><td><b>{html.escape(r.verdict)}</b></td></tr>")
    return f'<table class="wormhole-results">\n<thead>{head}</thead>\n<tbody>\n' + "\n".join(body) + "\n</tbody></table>"


def forest_plot(rows: list[Claim]):
    """Exactly the comparisons of :func:`html_table`, one panel per metric: the improvement of
    the candidate over the baseline (paired, mean and 95% CI; right of 0 is better), filled
    where it survived Holm within its claim."""
    import matplotlib.pyplot as plt

    panels: dict[str, list] = {}
    for r in rows:
        if not r.judgement:
            continue
        for e, outcome in zip(r.evidence, r.judgement.outcomes):
            metric = e.metric.split("_")[0] if e.metric.startswith(("conflict", "added")) else e.metric
            panels.setdefault(metric, []).append((e, outcome))
    from .plotting import COLUMN_INCHES, STYLE

    names = {"loss": "loss reduction", "accuracy": "accuracy gain",
             "conflict": "gradient agreement gain (less conflict)", "added": "added function-space directions"}
    heights = [0.24 * len(v) + 0.9 for v in panels.values()]
    with plt.rc_context(STYLE):
        return _forest(plt, panels, names, heights, COLUMN_INCHES)


def _forest(plt, panels, names, heights, width):
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (metric, items) in zip(axes[:, 0], panels.items()):
        y = np.arange(len(items))
        for i, (e, outcome) in enumerate(items):
            r = e.result
            colour = {"better": "C2", "worse": "C3", "tie": "0.4"}[outcome]
            ax.errorbar(r.improvement, i, xerr=r.half_width, fmt="o", capsize=2, color=colour,
                        mfc=colour if outcome != "tie" else "white")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(y, [f"{e.name}: {e.candidate} vs {e.baseline}" + (f" @{e.steps}" if e.metric in ("loss", "accuracy") else "")
                          for e, _ in items])
        ax.invert_yaxis()
        ax.set_xlabel(f"{names.get(metric, metric)} over the baseline")
    axes[0, 0].set_title("paired improvement over the baseline (mean, 95% CI)\nfilled: significant after Holm")
    fig.tight_layout()
    return fig


def tuning_table(metrics: dict[str, dict]) -> str:
    """For every tuned comparison (in the order of the headline problems): the problem, and per
    method the grid, the selected setting, the budget and the iterations the selected settings
    trained for; HTML."""
    parts = []
    for problem, key, _ in PROBLEMS:
        for c in [m for m in metrics.values() if m.get("config", {}).get("problem") == key and tuned(m)]:
            conv = c["config"].get("convergence", {})
            trained = (f"; the selected settings trained for {c['config']['iterations']} meta-iterations "
                       f"({'MAML converged' if conv.get('converged') else 'MAML not converged: cap reached'}) "
                       f"on {len(c['config']['seeds'])} fresh seeds" if conv else "")
            parts.append(f"<p><b>{html.escape(problem)}: {html.escape(c['name'])}</b>{html.escape(trained)}</p>"
                         + selected_table(c["config"]["tuning"])._repr_html_())
    return "\n".join(parts) if parts else "<p>no tuned comparisons were saved</p>"


def describe(claim: Claim) -> str:
    """One sentence about a judged claim, e.g. for a chapter's generated findings."""
    if not claim.judgement:
        return f"{claim.claim}: no measurements."
    c = claim.judgement.counts()
    sizes = "; ".join(f"{v:.3g} in {k}" for k, v in detectable_by_metric(claim).items())
    tail = (f"; a true difference larger than about {sizes} would most likely have been detected"
            if claim.verdict == "no evidence" and sizes else "")
    return (f"{claim.claim}: **{claim.verdict}** ({c['better']} of {len(claim.evidence)} comparisons significantly "
            f"better, {c['worse']} worse after Holm–Bonferroni{tail}).")


__all__ = ["ABLATIONS", "SETTINGS", "Claim", "Evidence", "claims", "compare_saved", "describe", "fmt", "forest_plot", "html_table",
           "judge_claim", "learned", "learned_by", "load", "per_seed", "save_metrics", "selected_table", "setting_values", "tuned",
           "tuning_table"]
