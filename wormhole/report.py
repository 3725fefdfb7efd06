"""The results page: the abstract's claims, judged from the metrics that the chapters saved.

Every chapter saves its comparisons as JSON (:meth:`wormhole.experiments.Comparison.save`);
this module reads them back and turns them into one row per claim. Nothing here is typed
by hand: a verdict is a rule applied to per-seed numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .stats import fmt, mean_ci

WORMHOLE_VARIANTS = ("Wormhole", "Wormhole-seam")


def save_metrics(name: str, data: dict) -> Path:
    """Save measurements that are not a :class:`~wormhole.experiments.Comparison` (e.g. the
    theory chapter's) next to the comparisons, for the results page."""
    from .experiments import metrics_dir, quick

    path = metrics_dir() / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"name": name, "config": {"quick": quick()}, **data}, indent=1))
    tmp.replace(path)
    return path


def load(directory) -> dict[str, dict]:
    """Every ``*.json`` metrics file in ``directory``, keyed by its comparison name."""
    out = {}
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text())
        out[data["name"]] = data
    return out


def _values(method: dict, metric: str, steps: int) -> np.ndarray:
    if metric in ("conflict", "conflict_during_training"):
        raise ValueError("per-seed conflict values are not saved; use 'loss' or 'accuracy'")
    return np.asarray(method[f"per_seed_{metric}"][str(steps)], dtype=float)


def compare_saved(comparison: dict, a: str, b: str, metric: str, steps: int = 1) -> dict:
    """Like :func:`wormhole.experiments.contrast`, from a saved summary (loss, accuracy or a
    conflict measure, whose saved form is a mean and CI half-width over seeds)."""
    ma_, mb_ = comparison["methods"][a], comparison["methods"][b]
    if metric in ("conflict", "conflict_during_training"):
        (ma, ha), (mb, hb) = ma_[metric], mb_[metric]
    else:
        (ma, ha), (mb, hb) = mean_ci(_values(ma_, metric, steps)), mean_ci(_values(mb_, metric, steps))
    separate = bool(abs(ma - mb) > ha + hb)
    higher_better = metric != "loss"
    better = None
    if separate:
        better = (a if ma > mb else b) if higher_better else (a if ma < mb else b)
    return {"a": a, "b": b, "mean_a": float(ma), "ci_a": float(ha), "mean_b": float(mb), "ci_b": float(hb),
            "better": better, "metric": metric, "steps": steps, "name": comparison["name"]}


def _verdict(results: list[dict], candidate_key: str = "b") -> str:
    wins = sum(r["better"] == r[candidate_key] for r in results)
    losses = sum(r["better"] is not None and r["better"] != r[candidate_key] for r in results)
    if results and wins == len(results):
        return "reproduced"
    if wins > 0:
        return "partly" if wins > losses else "partly (mixed)"
    return "not reproduced"


def _cell(r: dict) -> str:
    tag = {None: "≈", r["b"]: "better", r["a"]: "worse"}[r["better"]]
    what = r["metric"] if r["metric"].startswith("conflict") else f"{r['metric']}@{r['steps']}"
    return (f"{r['name']} · {r['b']}: {what} {fmt(r['mean_b'], r['ci_b'])} vs MAML "
            f"{fmt(r['mean_a'], r['ci_a'])} ({tag})")


def learned(comparison: dict, threshold: float = 0.02) -> bool:
    """Whether MAML learned anything on this problem: its query loss after 10 inner steps is at
    least ``threshold`` (relative) below its loss before adaptation. Where it is not, nothing was
    learned by anyone to compare (e.g. Morlet wavelets at α = 0.01), and the comparison is left out."""
    maml = comparison["methods"].get("MAML")
    if maml is None or "10" not in maml["per_seed_loss"]:
        return True
    before, after = np.mean(maml["per_seed_loss"]["0"]), np.mean(maml["per_seed_loss"]["10"])
    return bool(after < (1 - threshold) * before)


def claims(metrics: dict[str, dict]) -> list[dict]:
    """One row per claim of the abstract: ``claim``, ``evidence`` (list of sentences) and ``verdict``.

    Comparisons on problems that MAML did not learn at all (:func:`learned`) are left out."""
    def have(prefix):
        return [m for name, m in metrics.items() if name.startswith(prefix)]

    def against_maml(comparisons, metric, steps=1, conflicting_only=True):
        rows = []
        for c in comparisons:
            if conflicting_only and c["config"]["train_tasks"].get("flip") is False:
                continue
            if not learned(c):
                continue
            for v in WORMHOLE_VARIANTS:
                if v in c["methods"] and "MAML" in c["methods"]:
                    rows.append(compare_saved(c, "MAML", v, metric, steps))
        return rows

    rows = []
    headline = have("threshold") + have("wavelet") + have("mnist")
    conflict = against_maml(headline, "conflict_during_training")
    rows.append({"claim": "eases conflicting gradients (mean cosine of per-task meta-gradients over training)",
                 "evidence": [_cell(r) for r in conflict], "verdict": _verdict(conflict)})
    conflict_end = against_maml(headline, "conflict")
    rows.append({"claim": "eases conflicting gradients (at the end of training)",
                 "evidence": [_cell(r) for r in conflict_end], "verdict": _verdict(conflict_end)})
    dyn = against_maml(headline, "loss", 1)
    rows.append({"claim": "improves training dynamics (query loss after the trained number of inner steps)",
                 "evidence": [_cell(r) for r in dyn], "verdict": _verdict(dyn)})
    gran, theory = metrics.get("generalisation-granularity"), metrics.get("theory-expressivity")
    if gran and theory:
        ranks = theory["ranks"]
        dial = all(r["rank"] == r["multipliers"] for g, r in ranks.items() if g != "layer")
        evidence = [f"function-space directions added ({g}): {r['rank']} for {r['multipliers']} multiplier(s)"
                    for g, r in ranks.items()]
        acc = {k: gran["methods"][k]["accuracy"]["1"] for k in gran["methods"]}  # JSON keys are strings
        evidence += [f"5-way MNIST, {k} ({gran['methods'][k]['learner'].get('n_multipliers', 0)} multipliers): "
                     f"accuracy@1 {fmt(*acc[k])}" for k in gran["methods"]]
        gains = [compare_saved(gran, "MAML", v, "accuracy", 1) for v in gran["methods"] if v != "MAML"]
        helped = any(g["better"] == g["b"] for g in gains)
        verdict = "reproduced" if dial and helped else "partly" if dial or helped else "not reproduced"
        rows.append({"claim": "raises expressivity in a controllable way (function-space directions per multiplier; "
                              "accuracy on 5-way MNIST)", "evidence": evidence, "verdict": verdict})
    for problem, prefix, metric in (("threshold comparison", "threshold", "accuracy"),
                                    ("wavelet regression", "wavelet", "loss"), ("MNIST", "mnist", "accuracy")):
        res = against_maml(have(prefix), metric, 1) + against_maml(have(prefix), metric, 10)
        rows.append({"claim": f"helps on {problem} ({metric} after 1 and 10 inner steps, conflicting tasks)",
                     "evidence": [_cell(r) for r in res], "verdict": _verdict(res)})
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The claims as a Markdown table (evidence as a line-broken list in one cell)."""
    lines = ["| claim of the abstract | measured (mean ± 95% CI over seeds) | verdict |", "|---|---|---|"]
    for r in rows:
        evidence = "<br>".join(r["evidence"]) if r["evidence"] else "no metrics saved"
        lines.append(f"| {r['claim']} | {evidence} | **{r['verdict']}** |")
    return "\n".join(lines)


def forest_plot(metrics: dict[str, dict]):
    """Each wormhole variant minus MAML on its problem's headline metric after one inner step,
    per saved comparison (mean and 95% CI of the paired per-seed difference)."""
    import matplotlib.pyplot as plt

    labels, means, cis = [], [], []
    for name, c in metrics.items():
        if "MAML" not in c.get("methods", {}) or name.startswith("generalisation"):
            continue
        metric = "loss" if name.startswith("wavelet") else "accuracy"
        base = _values(c["methods"]["MAML"], metric, 1)
        for v in WORMHOLE_VARIANTS:
            if v in c["methods"]:
                m, h = mean_ci(_values(c["methods"][v], metric, 1) - base)
                sign = -1 if metric == "loss" else 1  # plot "improvement": right of 0 is better
                labels.append(f"{name} · {v} ({metric})")
                means.append(sign * m)
                cis.append(h)
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(labels) + 1))
    y = np.arange(len(labels))
    ax.errorbar(means, y, xerr=cis, fmt="o", capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="improvement over MAML after one inner step (accuracy gain, or loss reduction)",
           title="wormhole variants versus MAML, paired over seeds")
    fig.tight_layout()
    return fig
