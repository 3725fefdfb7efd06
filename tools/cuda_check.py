"""One short check of the CUDA path (run on a machine with a GPU): ``python tools/cuda_check.py``.

Trains, evaluates and diagnoses every learner with ``device="auto"`` and checks that CUDA was
used and that the numbers agree with the CPU. Exits non-zero on any failure.
"""

from __future__ import annotations

import sys
import time

import torch

import wormhole as wh

failures = []


def check(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}", flush=True)
    if not ok:
        failures.append(name)


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    check("device='auto' picks CUDA", wh.resolve_device("auto").type == "cuda")
    tasks = wh.tasks.Threshold()
    kw = dict(iterations=30, meta_batch=16, meta_lr=1e-2, progress=False, log_every=10)
    make = lambda: wh.Wormhole(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)  # noqa: E731
    gpu = wh.meta_train_seeds(make(), tasks, [0, 1, 2], device="auto", **kw)
    cpu = wh.meta_train_seeds(make(), tasks, [0, 1, 2], device="cpu", **kw)
    on_gpu = all(p.is_cuda for r in gpu for p in r.learner.parameters())
    diff = max((a.detach().cpu() - b.detach()).abs().max().item()
               for rg, rc in zip(gpu, cpu) for a, b in zip(rg.learner.parameters(), rc.learner.parameters()))
    check("multi-seed meta_train on CUDA matches CPU", on_gpu and diff < 1e-3, f"max |Δθ| = {diff:.2e}")
    ev_gpu = wh.evaluate(gpu[0].learner, tasks, n_tasks=200, device="auto")
    ev_cpu = wh.evaluate(cpu[0].learner, tasks, n_tasks=200, device="cpu")
    check("evaluate on CUDA matches CPU", abs(ev_gpu.mean_loss(10) - ev_cpu.mean_loss(10)) < 1e-3,
          f"{ev_gpu.mean_loss(10):.5f} vs {ev_cpu.mean_loss(10):.5f}")
    batch = tasks.sample(16, torch.Generator().manual_seed(0)).to("cuda")
    c = wh.diagnostics.gradient_conflict(gpu[0].learner, batch)
    u = wh.diagnostics.wormhole_usage(gpu[0].learner, batch)
    check("diagnostics on CUDA", -1 <= c.mean <= 1 and u["adapted_w"].is_cuda)

    mnist = wh.tasks.MNISTPairs()
    conv = wh.meta_train_seeds(wh.Wormhole(wh.models.ConvNet(1, hidden=32), loss="bce", inner_lr=0.4), mnist,
                               [0, 1], iterations=5, meta_batch=8, progress=False, device="auto")
    check("ConvNet on CUDA", all(torch.isfinite(torch.tensor(r.history.meta_loss)).all() for r in conv))
    relatives = {
        "ANIL": wh.ANIL, "WormholeANIL": wh.WormholeANIL, "MetaSGD": wh.MetaSGD, "WormholeMetaSGD": wh.WormholeMetaSGD,
        "AlphaMAML": wh.AlphaMAML, "TreeMAML": wh.TreeMAML,
        "ESMAML": lambda m, **k: wh.ESMAML(m, n_samples=4, **k),
        "DifMAML": lambda m, **k: wh.DifMAML(m, agents=4, **k),
    }
    for name, cls in relatives.items():
        try:
            runs = wh.meta_train_seeds(cls(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4), tasks, [0, 1],
                                       iterations=3, meta_batch=16, progress=False, device="auto")
            ev = wh.evaluate(runs[0].learner, tasks, n_tasks=32, device="auto")
            check(f"{name} on CUDA", all(p.is_cuda for p in runs[0].learner.parameters()) and
                  torch.isfinite(torch.tensor(ev.loss)).all().item())
        except Exception as err:  # report every learner, not only the first failure
            check(f"{name} on CUDA", False, repr(err)[:300])

    for label, mk, fam in (("MLP 1-40-40-1", lambda: wh.models.MLP(1, (40, 40), 1), tasks),
                           ("ConvNet 32", lambda: wh.models.ConvNet(1, hidden=32), mnist)):
        for mb in (32, 128):
            times = {}
            for dev in ("cpu", "cuda"):
                learner = wh.Wormhole(mk(), loss="bce", inner_lr=0.4).to(dev)
                opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
                b = fam.sample(mb, torch.Generator().manual_seed(0)).to(dev)
                for rep in range(4):
                    if dev == "cuda":
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    opt.zero_grad()
                    learner.meta_loss(b).backward()
                    opt.step()
                    if dev == "cuda":
                        torch.cuda.synchronize()
                    times[dev] = time.perf_counter() - t0
            print(f"INFO  {label}, meta-batch {mb}: one meta-step {times['cpu'] * 1e3:.1f} ms on CPU (this machine), "
                  f"{times['cuda'] * 1e3:.1f} ms on CUDA")
    print(f"{len(failures)} failed" if failures else "all CUDA checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
