"""The results page's machinery: one exclusion rule, no stale metrics, a table that renders."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from wormhole import report
from wormhole.stats import VERDICTS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402

rng = np.random.default_rng(1)


def _method(loss0, loss1, acc1, n=5, acc0=0.5, steps=1):
    per = lambda m: {str(s): (m + rng.normal(0, 0.001, n)).tolist() for s in (0, 1, 10)}  # noqa: E731
    loss, acc = per(loss1), per(acc1)
    loss["0"] = (loss0 + rng.normal(0, 0.001, n)).tolist()
    acc["0"] = (acc0 + rng.normal(0, 0.001, n)).tolist()
    return {"learner": {"loss": "bce", "steps": steps}, "per_seed_loss": loss, "per_seed_accuracy": acc,
            "per_seed_conflict": rng.normal(0, 0.01, n).tolist(),
            "per_seed_conflict_during_training": rng.normal(0, 0.01, n).tolist()}


def _comparison(name, problem="threshold", learned=True, gain=0.05, provenance=None):
    loss1 = 0.3 if learned else 0.7
    return {"name": name, "provenance": provenance or {},
            "config": {"problem": problem, "control": False, "seeds": list(range(5))},
            "methods": {"MAML": _method(0.7, loss1, 0.8 if learned else 0.5),
                        "Wormhole": _method(0.7, loss1 - gain if learned else loss1, 0.8 + gain if learned else 0.5)}}


def test_a_problem_leaves_only_when_no_method_learned_it():
    c = _comparison("threshold-a")
    assert report.learned(c)
    c["methods"]["MAML"] = _method(0.7, 0.7, 0.5)            # MAML learned nothing, Wormhole did
    assert report.learned(c) and not report.learned_by(c, "MAML")
    assert not report.learned(_comparison("threshold-b", learned=False))


def test_claims_judge_by_the_paired_rule_and_list_exclusions():
    metrics = {"threshold-a": _comparison("threshold-a"),
               "threshold-flat": _comparison("threshold-flat", learned=False)}
    rows = {r.key: r for r in report.claims(metrics)}
    helps = rows["helps-threshold"]
    # judged at the trained step count (1); ten steps are shown beside it, never judged
    assert helps.verdict == "reproduced" and len(helps.evidence) == 1
    assert [(e.name, e.steps) for e in helps.secondary] == [("threshold-a", 10)]
    assert [e.name for e in helps.excluded] == ["threshold-flat"]
    assert all(r.verdict in report.FINAL_WORDS + ("no measurements",) for r in rows.values())


def test_untagged_comparisons_never_enter_a_claim():
    bogus = _comparison("threshold-old", problem=None, gain=-0.2)
    rows = report.claims({"threshold-old": bogus})
    assert all(r.judgement is None for r in rows if "expressivity" not in r.claim)


def test_html_table_is_a_table_with_every_claim():
    rows = report.claims({"threshold-a": _comparison("threshold-a")})
    table = report.html_table(rows)
    assert table.startswith("<table") and table.count("<tr>") == len(rows) + 1
    assert "|---" not in table and "reproduced" in table


def test_forest_plot_has_one_titled_panel_per_judged_claim():
    import matplotlib
    matplotlib.use("Agg")
    rows = report.claims({"threshold-a": _comparison("threshold-a")})
    fig = report.forest_plot(rows)
    judged = [r for r in rows if r.judgement]
    assert len(fig.axes) == len(judged)
    for ax, r in zip(fig.axes, judged):
        assert ax.get_title(loc="left").startswith(f"{r.key}: {r.verdict}")
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert len(labels) == len(set(labels)), "a comparison appears once per panel"


def test_a_planted_metrics_file_cannot_reach_the_results_page(tmp_path):
    cache, metrics = tmp_path / "_build" / ".jupyter_cache", tmp_path / "_build" / "metrics"
    assert build_book.prepare(cache, metrics, "build-1")
    (metrics / "threshold-bogus.json").write_text(json.dumps(_comparison("threshold-bogus")))
    # a new build (other sources, seeds or mode) deletes it before anything executes
    assert build_book.prepare(cache, metrics, "build-2")
    assert not (metrics / "threshold-bogus.json").exists()
    # and within one build, the results page refuses a file stamped by another build
    current = {"quick": False, "seed_offset": 0, "fingerprint": "build-2"}
    (metrics / "threshold-bogus.json").write_text(json.dumps(
        _comparison("threshold-bogus", provenance={**current, "fingerprint": "build-1"})))
    with pytest.raises(ValueError, match="another build"):
        report.load(metrics, expected=current)
    (metrics / "threshold-bogus.json").write_text(json.dumps(_comparison("threshold-bogus", provenance=current)))
    assert list(report.load(metrics, expected=current)) == ["threshold-bogus"]
    # an unchanged build keeps what it computed
    assert not build_book.prepare(cache, metrics, "build-2") and (metrics / "threshold-bogus.json").exists()


def test_a_tuned_comparison_replaces_the_defaults_and_must_beat_both_ablations():
    default = _comparison("threshold-default", gain=0.05)
    fight = _comparison("threshold-tuned", gain=0.05)
    fight["config"]["tuned_methods"] = ["MAML", "Wormhole", "learned scale", "learned step"]
    fight["methods"]["learned scale"] = _method(0.7, 0.3 - 0.05, 0.85)   # as good as the wormhole
    fight["methods"]["learned step"] = _method(0.7, 0.3, 0.8)
    rows = {r.key: r for r in report.claims({"threshold-default": default, "threshold-tuned": fight})}
    helps = rows["helps-threshold"]
    assert {e.name for e in helps.evidence} == {"threshold-tuned"}          # the defaults are not judged
    assert {e.baseline for e in helps.evidence} == {"MAML", "learned scale", "learned step"}
    assert helps.verdict != "reproduced"     # no better than the learned scale: the wormhole is not credited
    assert {e.baseline for e in rows["dynamics"].evidence} == {"MAML"}
