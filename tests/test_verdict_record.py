"""tools/verdicts.py: the README's verdicts of both seed offsets come from built pages, not typing."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from wormhole import display, report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import verdicts  # noqa: E402

rng = np.random.default_rng(3)


def _comparison(gain):
    n = 10
    base = rng.normal(0.8, 0.05, n)

    def method(acc):
        return {"learner": {"loss": "bce", "steps": 1},
                "per_seed_accuracy": {"0": [0.5] * n, "1": acc.tolist(), "10": acc.tolist()},
                "per_seed_loss": {k: [0.6] * n for k in ("0", "1", "10")},
                "per_seed_conflict": rng.normal(0, 0.01, n).tolist(),
                "per_seed_conflict_during_training": rng.normal(0, 0.01, n).tolist()}

    return {"name": "threshold-x", "config": {"problem": "threshold", "seeds": list(range(n))},
            "methods": {"MAML": method(base), "Wormhole": method(base + gain + rng.normal(0, 0.002, n))}}


def _site(tmp_path, name, offset, quick, gain):
    rows = report.claims({"threshold-x": _comparison(gain)})
    provenance = display.folded([f"quick: {quick}", f"seed_offset: {offset}", "fingerprint: abc"], "provenance")
    page = tmp_path / name / verdicts.PAGE
    page.parent.mkdir(parents=True)
    page.write_text(f"<html><body>{provenance._repr_html_()}{report.html_table(rows)}</body></html>")
    return tmp_path / name, {r.key: r for r in rows}


def test_a_built_page_is_recorded_with_its_offset_and_commit(tmp_path):
    site, rows = _site(tmp_path, "a", 100, False, 0.05)
    path = verdicts.record(site, ROOT, tmp_path / "records")
    assert path.name == "seed-offset-100.json"
    data = json.loads(path.read_text())
    assert data["seed_offset"] == 100 and len(data["commit"]) == 40
    helps = data["claims"]["helps-threshold"]
    assert helps["final"] == rows["helps-threshold"].verdict
    assert helps["sets"] == list(rows["helps-threshold"].set_verdicts)
    assert set(data["claims"]) == set(rows)


def test_a_quick_build_is_refused(tmp_path):
    site, _ = _site(tmp_path, "q", 0, True, 0.05)
    with pytest.raises(ValueError, match="quick"):
        verdicts.record(site, ROOT, tmp_path / "records")


def test_the_readme_table_has_one_column_per_recorded_build(tmp_path):
    for name, offset, gain in (("a", 0, 0.05), ("b", 100, 0.0)):
        site, _ = _site(tmp_path, name, offset, False, gain)
        verdicts.record(site, ROOT, tmp_path / "records")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{verdicts.START}\nPLACEHOLDER\n{verdicts.END}\nrest\n")
    assert verdicts.readme(readme, tmp_path / "records")
    text = readme.read_text()
    assert "PLACEHOLDER" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert "seed offset 0 (`" in text and "seed offset 100 (`" in text
    row = next(line for line in text.splitlines() if line.startswith("| helps-threshold"))
    assert row.count("**") == 4          # a final word per build
    assert not verdicts.readme(readme, tmp_path / "records")   # unchanged on a second run


def test_a_page_without_results_is_refused(tmp_path):
    page = tmp_path / "s" / verdicts.PAGE
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    with pytest.raises(ValueError, match="results table"):
        verdicts.record(tmp_path / "s", ROOT, tmp_path / "records")


def test_another_floating_point_path_is_recorded_beside_the_native_one(tmp_path):
    site, rows = _site(tmp_path, "n", 0, False, 0.05)
    native = verdicts.record(site, ROOT, tmp_path / "records")
    page = site / verdicts.PAGE
    page.write_text(page.read_text().replace("seed_offset: 0", "seed_offset: 0</li><li>cpu_path: avx2"))
    other = verdicts.record(site, ROOT, tmp_path / "records")
    assert native.name == "seed-offset-0.json" and other.name == "seed-offset-0-cpu-avx2.json"
    assert json.loads(other.read_text())["cpu_path"] == "avx2"
    borderline = json.loads(native.read_text())["claims"]["helps-threshold"]["borderline"]
    assert borderline == rows["helps-threshold"].borderline
    readme = tmp_path / "README.md"
    readme.write_text(f"{verdicts.START}\n{verdicts.END}\n")
    verdicts.readme(readme, tmp_path / "records")
    assert "seed offset 0, CPU path avx2 (`" in readme.read_text()


def test_saved_metrics_are_judged_by_this_checkout_with_both_commits_named(tmp_path):
    prov = {"quick": False, "seed_offset": 0, "cpu_path": "avx2", "fingerprint": "old"}
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "threshold-x.json").write_text(json.dumps({**_comparison(0.05), "provenance": prov}))
    path = verdicts.judge(metrics, ROOT, tmp_path / "records", metrics_commit="abc1234")
    data = json.loads(path.read_text())
    assert path.name == "seed-offset-0-cpu-avx2.json" and data["metrics_commit"] == "abc1234"
    assert data["claims"]["helps-threshold"]["final"] == "reproduced"
    (metrics / "threshold-q.json").write_text(json.dumps({**_comparison(0.05), "name": "threshold-q",
                                                          "provenance": {**prov, "quick": True}}))
    with pytest.raises(ValueError, match="builds"):
        verdicts.judge(metrics, ROOT, tmp_path / "records")
    (metrics / "threshold-q.json").unlink()
    with pytest.raises(ValueError, match="not 'default'"):
        verdicts.judge(metrics, ROOT, tmp_path / "records", cpu_path="default")
    older = {k: v for k, v in prov.items() if k != "cpu_path"}
    (metrics / "threshold-x.json").write_text(json.dumps({**_comparison(0.05), "provenance": older}))
    with pytest.raises(ValueError, match="--cpu-path"):
        verdicts.judge(metrics, ROOT, tmp_path / "records")
    assert verdicts.judge(metrics, ROOT, tmp_path / "records", cpu_path="avx2").name == "seed-offset-0-cpu-avx2.json"
