"""Time the package at two commits against each other on this machine, in one run.

    python benchmarks/before_after.py OLD_COMMIT            # OLD against the working tree
    python benchmarks/before_after.py OLD_COMMIT NEW_COMMIT
    python benchmarks/before_after.py OLD_COMMIT --rounds 5 --threads 1

A machine's speed drifts between runs (other jobs, clocks), so a ratio against a table saved
on another day is not evidence of a change. Here each commit is checked out in a temporary
``git worktree`` and timed in its own process (both are the package ``wormhole``), the two
alternating round after round; each row is the median of the rounds, and the last column is
new / old (above 1: the new code is slower). What is timed is what ``meta_train`` runs: one
vectorised meta-step of MAML and Wormhole (MLP on the threshold family, ConvNet on MNIST
pairs) and every learner's step from ``benchmarks/meta_step.py``'s ``relative_step_times``
at that commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs inside one commit's checkout: prints {row: median seconds} as JSON on the last line.
PROBE = r"""
import json, sys, torch
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + "/benchmarks")
torch.set_num_threads(int(sys.argv[2]))
import wormhole as wh
import meta_step as ms
assert wh.__file__.startswith(sys.argv[1]), wh.__file__
out = {}
problems = {"MLP": (lambda: wh.models.MLP(1, (40, 40), 1), wh.tasks.Threshold(), (32,), (1, 5)),
            "ConvNet": (lambda: wh.models.ConvNet(1, hidden=16), wh.tasks.MNISTPairs(), (8, 32), (1,))}
for name, (model, family, batches, steps_list) in problems.items():
    for mb in batches:
        batch = family.sample(mb, torch.Generator().manual_seed(0))
        for steps in steps_list:
            for cls in (wh.MAML, wh.Wormhole):
                torch.manual_seed(0)
                learner = cls(model(), loss="bce", inner_lr=0.4, steps=steps)
                opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
                step = ms.step_wormhole_lib(learner, batch, opt, True)
                out[f"{name} meta-batch {mb}, {steps} step(s): {cls.__name__} vectorised"] = ms._time(step, 5)
for name, seconds in ms.relative_step_times(repeats=5).items():
    out[f"MLP meta_train step: {name}"] = seconds
print(json.dumps(out))
"""


def _worktree(commit: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
                   check=True, capture_output=True)
    return where


def _probe(root: Path, threads: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", PROBE, str(root), str(threads)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the commit to compare against")
    parser.add_argument("new", nargs="?", default=None, help="the new commit (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in each probe (default 1)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {args.rounds}")
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"old": _worktree(args.old, Path(tmp) / "old"),
                 "new": _worktree(args.new, Path(tmp) / "new") if args.new else ROOT}
        try:
            times = {"old": [], "new": []}
            for r in range(args.rounds):
                for side in ("old", "new"):
                    times[side].append(_probe(roots[side], args.threads))
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        finally:
            for side in ("old", "new"):
                if roots[side] != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(roots[side])],
                                   check=False, capture_output=True)
    rows = [k for k in times["new"][0] if k in times["old"][0]]
    print(f"old = {args.old}, new = {args.new or 'working tree'}; {args.threads} thread(s); "
          f"median seconds over {args.rounds} alternating rounds")
    print("what | old | new | new/old")
    worst = 0.0
    for row in rows:
        old = statistics.median(t[row] for t in times["old"])
        new = statistics.median(t[row] for t in times["new"])
        worst = max(worst, new / old)
        print(f"{row} | {old:.4f} | {new:.4f} | {new / old:.2f}")
    print(f"\nworst new/old: {worst:.2f} ({'within' if worst <= 1.10 else 'MORE than'} 10% slower)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
