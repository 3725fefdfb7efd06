"""Meta-training: several seeds of one configuration in one vectorised run.

The meta-parameters of S seeds are stacked (leading dimension S) and the
meta-gradient is ``vmap``-ed over seeds as well as tasks, so five seeds of a
small model cost little more than one. Adam is written functionally on the
stacked dicts (the same arithmetic as ``torch.optim.Adam``), so each seed's
run equals the run of that seed alone.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from . import _checks, distributed
from .diagnostics import cosine_matrix, flip_statistics, per_task_meta_gradients
from .learners.base import MetaLearner, Params
from .tasks.base import TaskBatch, TaskFamily

CHECKPOINT_VERSION = 2
_PURPOSE = {"init": 0, "tasks": 1, "eval": 2, "noise": 3}


def stream_seed(seed: int, purpose: str) -> int:
    """An independent 63-bit seed for each purpose ("init", "tasks", "eval") of a user seed,
    so that training and evaluation task streams never coincide."""
    state = np.random.SeedSequence([int(seed), _PURPOSE[purpose]]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when it is available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}") from None


@dataclass
class History:
    """What one seed's meta-training recorded.

    ``meta_loss`` and ``accuracy`` hold one value per iteration (accuracy is NaN
    for regression). ``logged`` holds, every ``log_every`` iterations, the
    iteration, the gradient conflict (mean pairwise cosine of per-task
    meta-gradients) and, for the wormhole, statistics of w₀ and of the adapted w.
    ``rates`` holds per-iteration learning rates of methods that adapt them (Alpha MAML).
    ``seconds`` is the wall-clock time of each iteration for all seeds trained
    together (``n_seeds`` of them); it is the one field that is not deterministic.
    """

    seed: int
    n_seeds: int = 1
    meta_loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    logged: dict = field(default_factory=dict)
    seconds: list = field(default_factory=list)
    rates: dict = field(default_factory=dict)

    @property
    def iterations(self) -> int:
        return len(self.meta_loss)

    def seconds_per_iteration(self) -> float:
        """Median wall-clock per meta-iteration of this seed (joint time / number of seeds)."""
        return float(np.median(self.seconds)) / self.n_seeds if self.seconds else float("nan")

    def log(self, row: dict) -> None:
        for k, v in row.items():
            self.logged.setdefault(k, []).append(v)

    def to_dict(self) -> dict:
        return {"seed": self.seed, "n_seeds": self.n_seeds, "meta_loss": self.meta_loss,
                "accuracy": self.accuracy, "logged": self.logged, "seconds": self.seconds, "rates": self.rates}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)


@dataclass
class Run:
    """One seed's result: the trained learner and its history."""

    seed: int
    learner: MetaLearner
    history: History


# ---------------------------------------------------------------- outer optimisers
class Adam:
    """Functional Adam on stacked meta-parameters (the same arithmetic as ``torch.optim.Adam``)."""

    def __init__(self, lr: float):
        self.lr = lr

    def init(self, meta: Params) -> dict:
        return adam_init(meta)

    def step(self, meta: Params, grads: Params, state: dict) -> tuple[Params, dict]:
        return adam_step(meta, grads, state, self.lr)

    def rates(self, meta: Params, state: dict) -> dict:
        """Per-copy learning rates worth logging (none: Adam's rate is fixed)."""
        return {}


def adam_init(params: Params) -> dict:
    return {"step": 0, "m": {k: torch.zeros_like(v) for k, v in params.items()},
            "v": {k: torch.zeros_like(v) for k, v in params.items()}}


def adam_step(params: Params, grads: Params, state: dict, lr: float, betas=(0.9, 0.999),
              eps: float = 1e-8) -> tuple[Params, dict]:
    """One Adam update, the same arithmetic as ``torch.optim.Adam`` (no weight decay)."""
    b1, b2 = betas
    t = state["step"] + 1
    m = {k: state["m"][k].mul(b1).add(grads[k], alpha=1 - b1) for k in params}
    v = {k: state["v"][k].mul(b2).addcmul(grads[k], grads[k], value=1 - b2) for k in params}
    bc1, bc2_sqrt = 1 - b1**t, math.sqrt(1 - b2**t)
    new = {k: params[k].addcdiv(m[k], (v[k].sqrt() / bc2_sqrt).add(eps), value=-lr / bc1) for k in params}
    return new, {"step": t, "m": m, "v": v}


# ---------------------------------------------------------------- checkpoints
def _to(state, device):
    """``state`` (nested dicts of tensors and numbers) with every tensor moved to ``device``."""
    if isinstance(state, dict):
        return {k: _to(v, device) for k, v in state.items()}
    return state.to(device) if isinstance(state, Tensor) else state


def _save_checkpoint(path: str, payload: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written checkpoint


def _load_checkpoint(path: str, config: dict) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
        ok = isinstance(payload, dict) and payload.get("version") == CHECKPOINT_VERSION
    except Exception as err:  # torch raises many kinds on a corrupt file
        raise ValueError(f"checkpoint {path!r} is not a readable wormhole checkpoint ({err}); "
                         "delete it to start afresh") from None
    if not ok or not {"config", "iteration", "meta", "optimizer", "generators", "histories"} <= payload.keys():
        raise ValueError(f"checkpoint {path!r} is not a wormhole checkpoint (wrong version or fields); "
                         "delete it to start afresh")
    if payload["config"] != config:
        diff = {k: (payload["config"].get(k), config.get(k)) for k in config if payload["config"].get(k) != config[k]}
        raise ValueError(f"checkpoint {path!r} was written by a different run; differing settings "
                         f"(saved, requested): {diff}")
    return payload


# ---------------------------------------------------------------- training
def meta_train_seeds(learner: MetaLearner, tasks: TaskFamily, seeds, iterations: int, meta_batch: int = 25,
                     meta_lr: float = 1e-3, progress: bool = True, checkpoint: str | None = None,
                     log_every: int = 50, device="auto", conflict_tasks: int = 16,
                     seed_chunk: int | None = None) -> list[Run]:
    """Meta-train one configuration for several seeds at once (vectorised over seeds).

    ``seed_chunk`` vectorises at most that many seeds at a time (``None``: all). Small
    MLPs gain from one wide ``vmap``; convolutions on the CPU run faster one seed at
    a time (see ``benchmarks/README.md``). The results are the same either way.

    Each seed fixes its own initialisation (``learner.reset_parameters``) and its own
    task stream. Returns one :class:`Run` per seed, in the order of ``seeds``; ``learner``
    itself is left unchanged (it is the template).

    With ``checkpoint=path`` the state is saved every ``log_every`` iterations and at the
    end; if the file exists, training resumes from it and runs up to ``iterations`` in
    total, bit-identical to an uninterrupted run. A non-finite meta-loss stops training
    with ``FloatingPointError`` naming the iteration and seed. Diagnostics are logged at
    iterations 0, log_every, 2·log_every, ... (a fixed grid, so that resumed runs log alike).
    """
    if not isinstance(learner, MetaLearner):
        raise ValueError(f"learner must be a wormhole MetaLearner, got {type(learner).__name__}")
    if not isinstance(tasks, TaskFamily):
        raise ValueError(f"tasks must be a wormhole TaskFamily, got {type(tasks).__name__}")
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers, got {seeds!r}")
    if seed_chunk is not None and _checks.count("seed_chunk", seed_chunk) < len(seeds):
        if checkpoint is not None:
            raise ValueError("checkpoint needs seed_chunk=None (one file holds all seeds trained together)")
        return [run for i in range(0, len(seeds), seed_chunk)
                for run in meta_train_seeds(learner, tasks, seeds[i:i + seed_chunk], iterations, meta_batch,
                                            meta_lr, progress, None, log_every, device, conflict_tasks)]
    _checks.count("iterations", iterations, minimum=0)
    _checks.count("meta_batch", meta_batch)
    meta_lr = _checks.positive("meta_lr", meta_lr)
    _checks.count("log_every", log_every)
    _checks.count("conflict_tasks", conflict_tasks, minimum=2)
    device = distributed.default_device() if device == "auto" and distributed.active() else resolve_device(device)
    local = distributed.share(meta_batch)  # this process's tasks (all of them outside torchrun)
    template = copy.deepcopy(learner).to(device)
    template.check_batch(tasks.sample(1, torch.Generator().manual_seed(0)).to(device))
    optimizer = template.outer_optimizer(meta_lr)

    config = {"seeds": seeds, "meta_batch": meta_batch, "meta_lr": meta_lr, "log_every": log_every,
              "learner": template.describe(), "tasks": tasks.describe(), "conflict_tasks": conflict_tasks}
    if checkpoint is not None and os.path.exists(checkpoint):
        saved = _load_checkpoint(checkpoint, config)
        start = saved["iteration"]
        if start > iterations:
            raise ValueError(f"iterations must be >= {start}, the iterations already in checkpoint {checkpoint!r}")
        meta = {k: v.to(device) for k, v in saved["meta"].items()}
        opt_state = _to(saved["optimizer"], device)
        gens = []
        for state in saved["generators"]:
            g = torch.Generator()
            g.set_state(state)
            gens.append(g)
        histories = [History.from_dict(h) for h in saved["histories"]]
    else:
        start = 0
        inits = []
        for s in seeds:
            fresh = copy.deepcopy(learner)
            fresh.reset_parameters(stream_seed(s, "init"))
            inits.append({k: v.detach() for k, v in fresh.meta_parameters().items()})
        meta = {k: torch.stack([p[k] for p in inits]).to(device) for k in inits[0]}
        opt_state = optimizer.init(meta)
        gens = [torch.Generator().manual_seed(stream_seed(s, "tasks")) for s in seeds]
        histories = [History(seed=s, n_seeds=len(seeds)) for s in seeds]

    bar = tqdm(range(start, iterations), total=iterations, initial=start, disable=not progress or distributed.rank() > 0,
               desc=f"{type(learner).__name__} x{len(seeds)} seeds", leave=False)
    for it in bar:
        t0 = time.perf_counter()
        batches = [tasks.sample(meta_batch, g) for g in gens]
        stacked = [torch.stack(ts)[:, local].to(device) for ts in zip(*(b.tensors() for b in batches))]
        grads, (loss, acc, adapted_w) = template.meta_gradients(meta, *stacked, total_tasks=meta_batch,
                                                                noise_seeds=[stream_seed(s, "noise") + it for s in seeds])
        if distributed.active():
            if template.all_reduce_gradients:
                grads = distributed.all_reduce_sum(grads)
            loss, acc = distributed.all_reduce_sum({"l": loss, "a": acc}).values()
            if adapted_w.numel():
                adapted_w = distributed.all_gather_cat(adapted_w, dim=1)
        bad = ~torch.isfinite(loss)
        if bad.any():
            s = seeds[int(bad.nonzero()[0])]
            raise FloatingPointError(f"meta-loss is not finite ({float(loss[bad][0])}) at iteration {it} "
                                     f"for seed {s}; lower meta_lr or inner_lr")
        if it % log_every == 0:
            for i, (h, b) in enumerate(zip(histories, batches)):
                h.log(_diagnostics(template, {k: v[i] for k, v in meta.items()}, b.select(slice(0, conflict_tasks))
                                   .to(device), adapted_w[i], b.sign, it))
        meta, opt_state = optimizer.step(meta, grads, opt_state)
        meta = template.post_update(meta)
        dt = time.perf_counter() - t0
        rates = {k: v.detach().cpu() for k, v in optimizer.rates(meta, opt_state).items()}
        for i, h in enumerate(histories):
            h.meta_loss.append(float(loss[i]))
            h.accuracy.append(float(acc[i]))
            h.seconds.append(dt)
            for k, v in rates.items():
                h.rates.setdefault(k, []).append(float(v[i]))
        if progress:
            bar.set_postfix(loss=f"{float(loss.mean()):.4f}")
        done = it + 1
        if checkpoint is not None and distributed.rank() == 0 and (done % log_every == 0 or done == iterations):
            _save_checkpoint(checkpoint, {
                "version": CHECKPOINT_VERSION, "config": config, "iteration": done,
                "meta": {k: v.cpu() for k, v in meta.items()},
                "optimizer": _to(opt_state, "cpu"),
                "generators": [g.get_state() for g in gens], "histories": [h.to_dict() for h in histories]})
    bar.close()

    runs = []
    for i, (s, h) in enumerate(zip(seeds, histories)):
        trained = copy.deepcopy(template)
        with torch.no_grad():
            for k, p in trained.meta_parameters().items():
                p.copy_(meta[k][i])
        runs.append(Run(s, trained, h))
    return runs


def _diagnostics(learner: MetaLearner, meta: Params, batch: TaskBatch, adapted_w: Tensor, sign, it: int) -> dict:
    c = cosine_matrix(per_task_meta_gradients(learner, batch, meta))
    off = c[~torch.eye(c.shape[0], dtype=torch.bool, device=c.device)]
    row = {"iteration": it, "conflict": float(off.mean())}
    if adapted_w.numel():
        row.update(flip_statistics(meta["wormhole_init"], adapted_w, sign))
    return row


def meta_train(learner: MetaLearner, tasks: TaskFamily, iterations: int, meta_batch: int = 25,
               meta_lr: float = 1e-3, seed: int = 0, progress: bool = True, checkpoint: str | None = None,
               log_every: int = 50, device="auto", conflict_tasks: int = 16) -> History:
    """Meta-train ``learner`` in place with Adam on ``tasks``; return its :class:`History`.

    The seed fixes the initialisation and the task stream: the learner's parameters are
    re-initialised from it (or restored from ``checkpoint``). Deterministic on the CPU.
    See :func:`meta_train_seeds` for several seeds at once, checkpoints and errors.
    """
    (run,) = meta_train_seeds(learner, tasks, [seed], iterations, meta_batch, meta_lr, progress, checkpoint,
                              log_every, device, conflict_tasks)
    learner.to(next(run.learner.parameters()).device)
    learner.load_state_dict(run.learner.state_dict())
    return run.history
