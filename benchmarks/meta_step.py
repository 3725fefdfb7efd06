"""Time one meta-step (forward, backward, optimiser step): vectorised vs per-task loop vs ``higher``.

    python benchmarks/meta_step.py            # the full table (several minutes on 2 cores)
    python benchmarks/meta_step.py --fast     # a smaller table
    python benchmarks/meta_step.py --device cuda   # on a GPU

All ratios come from the same run. ``higher`` (0.2.1) is used the way its README shows:
``innerloop_ctx(model, SGD, copy_initial_weights=False)`` with a second-order inner loop.
The table ends with the targets (each a ratio from this run) and whether each is met.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn

import wormhole as wh

try:
    import higher
except ImportError:  # the benchmark still runs, without that column
    higher = None


class OutputScaled(nn.Module):
    """``w · model(x)`` with ``w`` an ordinary parameter, so that ``higher`` adapts it like θ."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.w * self.model(x)


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()  # CUDA runs asynchronously: time finished work, not queued work


def _time(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        _sync()
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _time_interleaved(runs: dict, repeats: int) -> dict:
    """Median seconds of each of ``runs`` (name -> function), timed in turn within each repeat, so
    that a change in the machine's load hits every implementation alike (the ratios are what count)."""
    for run in runs.values():
        run()  # warm-up
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            _sync()
            t0 = time.perf_counter()
            run()
            _sync()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def step_wormhole_lib(learner, batch, opt, vectorize):
    def run():
        opt.zero_grad()
        learner.meta_loss(batch, vectorize=vectorize).backward()
        opt.step()
    return run


def step_higher(model, loss_fn, batch, opt, inner_lr, steps):
    inner_opt = torch.optim.SGD(model.parameters(), lr=inner_lr)

    def run():
        opt.zero_grad()
        sx, sy, qx, qy = batch.tensors()
        for i in range(sx.shape[0]):
            with higher.innerloop_ctx(model, inner_opt, copy_initial_weights=False) as (fmodel, diffopt):
                for _ in range(steps):
                    diffopt.step(loss_fn(fmodel(sx[i]), sy[i]))
                (loss_fn(fmodel(qx[i]), qy[i]) / sx.shape[0]).backward()
        opt.step()
    return run


def step_floor(model, loss_fn, batch, opt):
    """One plain forward + backward + optimiser step of ``model`` on every task's support and query
    examples stacked into one batch: the arithmetic a meta-step cannot go below."""
    sx, sy, qx, qy = batch.tensors()
    x = torch.cat([sx.flatten(0, 1), qx.flatten(0, 1)])
    y = torch.cat([sy.flatten(0, 1), qy.flatten(0, 1)])

    def run():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return run


def targets(results: dict, batches) -> list[tuple[str, str, bool]]:
    """The benchmark's targets as (what, measured, met) from ``results[(model, meta_batch, steps, method)]``
    = (vectorised, loop, higher, floor) seconds."""
    rows = []
    for steps in (1, 5):
        key = ("MLP 1-40-40-1", 32, steps, "MAML")
        if key in results and results[key][2] == results[key][2]:  # higher installed
            r = results[key][2] / results[key][0]
            rows.append((f"MLP, 32 tasks, {steps} step(s): higher / vectorised >= 20x", f"{r:.1f}x", r >= 20))
    for steps in (1, 5):
        key = ("ConvNet (16 ch)", 32, steps, "MAML")
        if key in results:
            r = results[key][1] / results[key][0]
            rows.append((f"ConvNet, 32 tasks, {steps} step(s): loop / vectorised >= 2x", f"{r:.2f}x", r >= 2))
    conv = [v[1] / v[0] for k, v in results.items() if k[0] == "ConvNet (16 ch)"]
    if conv:
        worst = min(conv)
        rows.append((f"ConvNet, {'/'.join(map(str, batches))} tasks, 1 and 5 steps: never slower than the loop (loop / vec >= 1)",
                     f"min {worst:.2f}x", worst >= 1))
    ratios = [results[(m, mb, s, "Wormhole")][0] / results[(m, mb, s, "MAML")][0]
              for (m, mb, s, meth) in results if meth == "MAML" and (m, mb, s, "Wormhole") in results]
    if ratios:
        rows.append(("Wormhole / MAML (vectorised) <= 1.10x in every row", f"max {max(ratios):.2f}x", max(ratios) <= 1.10))
    for model in ("MLP 1-40-40-1", "ConvNet (16 ch)"):
        key = (model, 32, 1, "MAML")
        if key in results:
            r = results[key][0] / results[key][3]
            rows.append((f"{model}, 32 tasks, 1 step: vectorised / plain fwd+bwd of the stacked data <= 6x (aim)",
                         f"{r:.1f}x", r <= 6))
    return rows


def relative_step_times(repeats: int = 5, meta_batch: int = 32, device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """Median seconds of one meta-step for every learner, as ``meta_train`` runs it (one seed):
    the method's own ``meta_gradients`` and its outer optimiser, MLP 1-40-40-1 on the threshold family."""
    tasks = wh.tasks.Threshold()
    batch = tasks.sample(meta_batch, torch.Generator().manual_seed(0)).to(device)
    mlp = lambda: wh.models.MLP(1, (40, 40), 1)  # noqa: E731
    learners = {
        "MAML": wh.MAML(mlp(), loss="bce", inner_lr=0.4), "Wormhole": wh.Wormhole(mlp(), loss="bce", inner_lr=0.4),
        "ANIL": wh.ANIL(mlp(), loss="bce", inner_lr=0.4), "Wormhole+ANIL": wh.WormholeANIL(mlp(), loss="bce", inner_lr=0.4),
        "Meta-SGD": wh.MetaSGD(mlp(), loss="bce", inner_lr=0.4),
        "Wormhole+Meta-SGD": wh.WormholeMetaSGD(mlp(), loss="bce", inner_lr=0.4),
        "Alpha MAML": wh.AlphaMAML(mlp(), loss="bce", inner_lr=0.4),
        "ES-MAML (4 pairs)": wh.ESMAML(mlp(), loss="bce", inner_lr=0.4, n_samples=4),
        "ES-MAML (32 pairs)": wh.ESMAML(mlp(), loss="bce", inner_lr=0.4, n_samples=32),
        "TreeMAML": wh.TreeMAML(mlp(), loss="bce", inner_lr=0.4),
        "Dif-MAML (4 agents)": wh.DifMAML(mlp(), loss="bce", inner_lr=0.4, agents=4),
    }
    out = {}
    tensors = [t.unsqueeze(0) for t in batch.tensors()]
    for name, learner in learners.items():
        learner.to(device)
        meta = {k: v.detach().unsqueeze(0) for k, v in learner.meta_parameters().items()}
        opt = learner.outer_optimizer(1e-3)
        state = opt.init(meta)

        def step():
            grads, _ = learner.meta_gradients(meta, *tensors, total_tasks=meta_batch, noise_seeds=[0])
            new, _ = opt.step(meta, grads, state)
            learner.post_update(new)
        out[name] = _time(step, repeats)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer settings and repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's, one per core); 1 where other jobs share the cores")
    parser.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda' or 'auto'")
    parser.add_argument("--models", nargs="+", choices=("mlp", "convnet"), default=("mlp", "convnet"))
    parser.add_argument("--batches", nargs="+", type=int, default=None, help="meta-batch sizes (default 8 32 128)")
    parser.add_argument("--steps", nargs="+", type=int, default=(1, 5), help="inner steps (default 1 5)")
    args = parser.parse_args(argv)
    device = wh.resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches = args.batches or ((8, 32) if args.fast else (8, 32, 128))
    problems = {
        "MLP 1-40-40-1": (lambda: wh.models.MLP(1, (40, 40), 1), wh.tasks.Threshold(), 0.4),
        "ConvNet (16 ch)": (lambda: wh.models.ConvNet(1, hidden=16), wh.tasks.MNISTPairs(), 0.4),
    }
    problems = {k: v for k, v in problems.items() if k.split()[0].lower() in args.models}
    results = {}
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}; median seconds per meta-step")
    header = ("model", "meta-batch", "steps", "method", "vectorised", "loop", "higher", "loop/vec", "higher/vec",
              "vec/floor")
    print(" | ".join(header))
    for model_name, (make_model, family, lr) in problems.items():
        conv = model_name.startswith("ConvNet")
        for steps in args.steps:
            for mb in batches:
                if conv and mb == 128 and steps == 5 and not args.fast:
                    repeats = 1
                else:
                    repeats = args.repeats or (3 if conv else 11)
                batch = family.sample(mb, torch.Generator().manual_seed(0)).to(device)
                runners = {}
                for method in ("MAML", "Wormhole"):
                    cls = wh.MAML if method == "MAML" else wh.Wormhole
                    learner = cls(make_model(), loss="bce", inner_lr=lr, steps=steps).to(device)
                    opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
                    runners[method, "vectorised"] = step_wormhole_lib(learner, batch, opt, True)
                    runners[method, "loop"] = step_wormhole_lib(learner, batch, opt, False)
                    if higher is not None:
                        model = (make_model() if method == "MAML" else OutputScaled(make_model())).to(device)
                        hopt = torch.optim.Adam(model.parameters(), lr=1e-3)
                        runners[method, "higher"] = step_higher(model, learner.loss_fn, batch, hopt, lr, steps)
                    plain = make_model().to(device)
                    runners[method, "floor"] = step_floor(plain, learner.loss_fn, batch,
                                                          torch.optim.Adam(plain.parameters()))
                times = _time_interleaved(runners, repeats)
                for method in ("MAML", "Wormhole"):
                    vec, loop, floor = (times[method, k] for k in ("vectorised", "loop", "floor"))
                    hig = times.get((method, "higher"), float("nan"))
                    results[(model_name, mb, steps, method)] = (vec, loop, hig, floor)
                    print(f"{model_name} | {mb} | {steps} | {method} | {vec:.4f} | {loop:.4f} | {hig:.4f} | "
                          f"{loop / vec:.1f}x | {hig / vec:.1f}x | {vec / floor:.1f}x", flush=True)
                times = {m: times[m, "vectorised"] for m in ("MAML", "Wormhole")}
                print(f"{model_name} | {mb} | {steps} | Wormhole/MAML (vectorised) | {times['Wormhole'] / times['MAML']:.2f}",
                      flush=True)
    print("\ntargets (ratios from this run) | measured | met")
    for what, value, met in targets(results, batches):
        print(f"{what} | {value} | {'met' if met else 'MISSED'}", flush=True)
    print("\nrelated methods: one meta-step as meta_train runs it (MLP 1-40-40-1, meta-batch 32, 1 inner step)")
    rel = relative_step_times(repeats=3 if args.fast else 5, device=device)
    print("method | seconds | relative to MAML")
    for name, t in rel.items():
        print(f"{name} | {t:.4f} | {t / rel['MAML']:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
