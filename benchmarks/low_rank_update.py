"""Does keeping the inner update low-rank make the sweep's meta-step cheaper? (No, on 2 CPU cores.)

    python benchmarks/low_rank_update.py               # 50 copies (the sweep) and 5 (one configuration)
    python benchmarks/low_rank_update.py --copies 50

One inner step of MAML changes the hidden layer of the MLP 1-40-40-1 by a matrix of rank K
(the support examples): ``W' = W - α δᵀh``, with ``δ (K, 40)`` the layer's output gradients and
``h (K, 40)`` its inputs. The package forms ``W'`` for every task, a ``(copies, tasks, 40, 40)``
tensor that the meta-gradient differentiates through. The alternative never forms it: the query
pre-activation is ``h_q Wᵀ - α (h_q hᵀ) δ``, one product with the shared ``W`` plus two
``(Q, K)``-sized ones per task. This script times the second-order meta-gradient of both, written
out in plain torch as :mod:`wormhole.backprop` writes the dense one (threshold-sized tasks: K = 10
support and Q = 20 query points, 25 tasks per copy, one per-copy inner rate), after checking that
they give the same meta-gradient. ``benchmarks/README.md`` records the result.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

TASKS, SUPPORT, QUERY, HIDDEN = 25, 10, 20, 40


def _parameters(copies: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Per-copy weights ``(copies, 1, out, in)`` and biases ``(copies, 1, 1, out)`` (1: broadcast over tasks)."""
    def draw(*shape, scale):
        return (torch.randn(copies, 1, *shape, generator=generator) * scale).requires_grad_()
    return {"W1": draw(HIDDEN, 1, scale=0.5), "b1": draw(1, HIDDEN, scale=0.1),
            "W2": draw(HIDDEN, HIDDEN, scale=HIDDEN ** -0.5), "b2": draw(1, HIDDEN, scale=0.1),
            "W3": draw(1, HIDDEN, scale=HIDDEN ** -0.5), "b3": draw(1, 1, scale=0.1)}


def _layer(h, weight, bias):
    return torch.matmul(h, weight.transpose(-1, -2)) + bias


def _support_gradients(p, x, y):
    """Each task's support gradient (the chain rule by hand), plus the hidden layer's inputs and output gradients."""
    z1 = _layer(x, p["W1"], p["b1"])
    h1 = torch.relu(z1)
    z2 = _layer(h1, p["W2"], p["b2"])
    h2 = torch.relu(z2)
    g3 = (torch.sigmoid(_layer(h2, p["W3"], p["b3"])) - y) / y.shape[-2]
    g2 = torch.ops.aten.threshold_backward(torch.matmul(g3, p["W3"]), z2, 0)
    g1 = torch.ops.aten.threshold_backward(torch.matmul(g2, p["W2"]), z1, 0)
    grads = {"W1": g1.transpose(-1, -2) @ x, "b1": g1.sum(-2, keepdim=True),
             "W2": g2.transpose(-1, -2) @ h1, "b2": g2.sum(-2, keepdim=True),
             "W3": g3.transpose(-1, -2) @ h2, "b3": g3.sum(-2, keepdim=True)}
    return grads, h1, g2


def _query_loss(out, y):
    return F.binary_cross_entropy_with_logits(out, y, reduction="none").mean((-2, -1)).sum()


def dense(p, rate, sx, sy, qx, qy):
    """Meta-loss with every task's adapted weights formed, as the package does."""
    grads, _, _ = _support_gradients(p, sx, sy)
    fast = {k: v - rate * grads[k] for k, v in p.items()}
    h = torch.relu(_layer(qx, fast["W1"], fast["b1"]))
    h = torch.relu(_layer(h, fast["W2"], fast["b2"]))
    return _query_loss(_layer(h, fast["W3"], fast["b3"]), qy)


def low_rank(p, rate, sx, sy, qx, qy):
    """The same meta-loss with the hidden layer's update kept as its factors."""
    grads, h1_support, g2_support = _support_gradients(p, sx, sy)
    fast = {k: v - rate * grads[k] for k, v in p.items() if k != "W2"}
    h = torch.relu(_layer(qx, fast["W1"], fast["b1"]))
    correction = torch.matmul(torch.matmul(h, h1_support.transpose(-1, -2)), g2_support)  # h_q hᵀ δ
    h = torch.relu(_layer(h, p["W2"], fast["b2"]) - rate * correction)
    return _query_loss(_layer(h, fast["W3"], fast["b3"]), qy)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[50, 5])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads; milliseconds per meta-gradient "
          f"(median of 3 rounds of {args.repeats})")
    for copies in args.copies:
        g = torch.Generator().manual_seed(0)
        p = _parameters(copies, g)
        rate = torch.full((copies, 1, 1, 1), 0.4)
        sx, qx = torch.randn(copies, TASKS, SUPPORT, 1, generator=g), torch.randn(copies, TASKS, QUERY, 1, generator=g)
        sy = (torch.rand(copies, TASKS, SUPPORT, 1, generator=g) > 0.5).float()
        qy = (torch.rand(copies, TASKS, QUERY, 1, generator=g) > 0.5).float()
        data = (rate, sx, sy, qx, qy)
        a = torch.autograd.grad(dense(p, *data), list(p.values()))
        b = torch.autograd.grad(low_rank(p, *data), list(p.values()))
        gap = max(float((u - v).abs().max() / u.abs().max()) for u, v in zip(a, b))
        if gap > 1e-4:
            raise AssertionError(f"the two meta-gradients differ (relative {gap:.1e})")
        times = {"dense": [], "low-rank": []}
        for _ in range(3):  # alternate, so that a change in load hits both alike
            for name, fn in (("dense", dense), ("low-rank", low_rank)):
                t0 = time.perf_counter()
                for _ in range(args.repeats):
                    torch.autograd.grad(fn(p, *data), list(p.values()))
                times[name].append(1000 * (time.perf_counter() - t0) / args.repeats)
        d, r = sorted(times["dense"])[1], sorted(times["low-rank"])[1]
        print(f"{copies:3d} copies x {TASKS} tasks: dense {d:.2f}, low-rank {r:.2f} "
              f"(dense / low-rank {d / r:.2f}x; meta-gradients agree to {gap:.0e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
