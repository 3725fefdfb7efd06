import json
import subprocess
import sys


def test_cli_smoke_run_writes_metrics_and_figures(tmp_path):
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "wormhole", "run", "threshold", "--method", "maml", "wormhole",
                          "--seeds", "2", "--iterations", "6", "--meta-batch", "4", "--eval-tasks", "20",
                          "--out", str(out), "--no-progress", "--device", "cpu"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"maml", "wormhole"}
    assert len(metrics["methods"]["wormhole"]["per_seed_loss"]["10"]) == 2
    assert {p.name for p in out.glob("*.png")} == {"training_curves.png", "inner_steps.png", "conflict.png"}


def test_cli_help_and_bad_problem():
    h = subprocess.run([sys.executable, "-m", "wormhole", "run", "--help"], capture_output=True, text=True)
    assert h.returncode == 0 and "--method" in h.stdout and "threshold" in h.stdout
    bad = subprocess.run([sys.executable, "-m", "wormhole", "run", "sinusoid"], capture_output=True, text=True)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr
