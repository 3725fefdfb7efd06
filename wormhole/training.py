"""Meta-training: several seeds, and several configurations of one method, in one vectorised run.

The meta-parameters of every *copy* (a configuration and a seed) are stacked (leading
dimension C·S) and the meta-gradient is ``vmap``-ed over copies as well as tasks, so five
seeds of a small model cost little more than one. The outer optimiser (:mod:`wormhole.optim`)
works on the stacked dicts with the same arithmetic for every copy, so each copy's run equals
the run of that seed and configuration alone. Configurations of a sweep
(:func:`meta_train_sweep`) differ only in numbers (:attr:`~wormhole.MetaLearner.sweepable`):
their rates become per-copy tensors, entries ``"hyper.<name>"`` that travel with the stacked
meta-parameters into the inner loop (:meth:`~wormhole.MetaLearner.hyper`) and are never trained.
:func:`meta_train_seeds` is the sweep of one configuration.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from . import _checks, checkpoints, distributed
from .devices import resolve_device
from .diagnostics import conflict_per_copy
from .learners.base import HYPER_PREFIX, MetaLearner, Params
from .seeding import stream_seed
from .tasks.base import TaskBatch, TaskFamily
from .timing import phase


@dataclass
class History:
    """What one seed's meta-training recorded.

    ``meta_loss`` and ``accuracy`` hold one value per iteration (accuracy is NaN
    for regression). ``logged`` holds, every ``log_every`` iterations, the
    iteration, the gradient conflict (mean pairwise cosine of per-task
    meta-gradients) and the learner's :meth:`~wormhole.MetaLearner.adapted_statistics`
    (for Wormhole: w₀, the adapted w and its sign flips).
    ``rates`` holds per-iteration learning rates of methods that adapt them (Alpha MAML).
    ``seconds`` is the wall-clock time of each iteration for all copies (seeds, and
    configurations of a sweep) trained together (``n_seeds`` of them); it is the one field
    that is not deterministic. ``diverged_at`` is the first iteration with a non-finite
    meta-loss when training went on past it (``on_nonfinite="continue"``), else ``None``.
    """

    seed: int
    n_seeds: int = 1
    meta_loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    logged: dict = field(default_factory=dict)
    seconds: list = field(default_factory=list)
    rates: dict = field(default_factory=dict)
    diverged_at: int | None = None

    @property
    def iterations(self) -> int:
        """The number of meta-iterations recorded."""
        return len(self.meta_loss)

    def seconds_per_iteration(self) -> float:
        """Median wall-clock per meta-iteration of this seed (joint time / number of seeds)."""
        return float(np.median(self.seconds)) / self.n_seeds if self.seconds else float("nan")

    def log(self, row: dict) -> None:
        """Append one row of diagnostics (``{name: value}``) to ``logged``."""
        for k, v in row.items():
            self.logged.setdefault(k, []).append(v)

    def to_dict(self) -> dict:
        """Every field as plain data (what checkpoints and metrics files store)."""
        return {"seed": self.seed, "n_seeds": self.n_seeds, "meta_loss": self.meta_loss,
                "accuracy": self.accuracy, "logged": self.logged, "seconds": self.seconds, "rates": self.rates,
                "diverged_at": self.diverged_at}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        """The inverse of :meth:`to_dict`."""
        return cls(**d)


@dataclass
class Run:
    """One seed's result: the trained learner and its history."""

    seed: int
    learner: MetaLearner
    history: History


@dataclass
class _Training:
    """Everything one vectorised run carries from iteration to iteration. Copy ``i`` trains
    configuration ``i // len(seeds)`` with seed ``seeds[i % len(seeds)]``."""

    learner: MetaLearner  # the template (the first configuration), on the device
    learners: list  # every configuration, on the device
    tasks: TaskFamily
    seeds: list
    meta_batch: int
    log_every: int
    conflict_tasks: int
    checkpoint: str | None
    device: torch.device
    local: slice  # this process's share of every meta-batch (all of it outside torchrun)
    optimizer: object
    config: dict
    on_nonfinite: str = "raise"
    hyper: Params = None  # per-copy values of the sweepable numbers the configurations differ in
    meta: Params = None
    opt_state: dict = None
    generators: list = None
    histories: list = None
    start: int = 0


# ---------------------------------------------------------------- set-up
def check_sweep(learners: list[MetaLearner]) -> None:
    """Raise ``ValueError`` unless ``learners`` can train together in one sweep: one class, one
    model architecture, and equal in every recorded setting but the class's
    :attr:`~wormhole.MetaLearner.sweepable` numbers."""
    first = learners[0]
    a = first.describe()
    for i, other in enumerate(learners[1:], 1):
        if type(other) is not type(first):
            raise ValueError(f"learners must all be one method to sweep together; learners[{i}] is "
                             f"{type(other).__name__}, learners[0] is {type(first).__name__}")
        b = other.describe()
        for key in sorted(set(a) | set(b)):
            if key not in first.sweepable and a.get(key) != b.get(key):
                allowed = ", ".join(first.sweepable) or "nothing"
                raise ValueError(f"learners[{i}] differs from learners[0] in {key!r} ({b.get(key)!r} vs "
                                 f"{a.get(key)!r}); the configurations of one sweep of {type(first).__name__} "
                                 f"may differ only in {allowed}")
        if repr(other.model) != repr(first.model) or other.loss_fn is not first.loss_fn:
            raise ValueError(f"learners[{i}] has another model or loss than learners[0]; a sweep trains one "
                             f"architecture and loss")


def _hyper(templates: list[MetaLearner], n_seeds: int, device) -> Params:
    """Per-copy tensors of the sweepable numbers (attributes that are numbers, not meta-parameters)
    in which the configurations differ; empty for one configuration."""
    out = {}
    dtype = next(templates[0].parameters()).dtype
    for name in templates[0].sweepable:
        values = [getattr(t, name) for t in templates]
        if isinstance(values[0], (int, float)) and not isinstance(values[0], bool) and len(set(values)) > 1:
            out[HYPER_PREFIX + name] = torch.tensor([v for v in values for _ in range(n_seeds)], dtype=dtype,
                                                    device=device)
    return out


def _set_up(learners, tasks, seeds, meta_batch, meta_lr, checkpoint, log_every, device, conflict_tasks,
            on_nonfinite) -> _Training:
    device = distributed.default_device() if device == "auto" and distributed.active() else resolve_device(device)
    templates = [copy.deepcopy(learner).to(device) for learner in learners]
    template = templates[0]
    template.check_batch(tasks.sample(1, torch.Generator().manual_seed(0)).to(device))
    described = {"learner": template.describe()} if len(templates) == 1 else \
        {"learners": [t.describe() for t in templates]}
    config = {"seeds": seeds, "meta_batch": meta_batch, "meta_lr": meta_lr, "log_every": log_every,
              **described, "tasks": tasks.describe(), "conflict_tasks": conflict_tasks}
    run = _Training(template, templates, tasks, seeds, meta_batch, log_every, conflict_tasks, checkpoint, device,
                    distributed.share(meta_batch), template.outer_optimizer(meta_lr), config, on_nonfinite,
                    _hyper(templates, len(seeds), device))
    if checkpoint is not None and os.path.exists(checkpoint):
        _resume(run, checkpoint)
    else:
        _start_afresh(run, learners)
    return run


def _start_afresh(run: _Training, learners: list[MetaLearner]) -> None:
    inits = []
    for learner in learners:
        for s in run.seeds:
            fresh = copy.deepcopy(learner)
            fresh.reset_parameters(stream_seed(s, "init"))
            inits.append({k: v.detach() for k, v in fresh.meta_parameters().items()})
    run.meta = {k: torch.stack([p[k] for p in inits]).to(run.device) for k in inits[0]}
    run.opt_state = run.optimizer.init(run.meta)
    run.generators = [torch.Generator().manual_seed(stream_seed(s, "tasks")) for s in run.seeds]
    run.histories = [History(seed=s, n_seeds=len(inits)) for _ in learners for s in run.seeds]


def _resume(run: _Training, path: str) -> None:
    saved = checkpoints.load(path, run.config)
    run.start = saved["iteration"]
    run.meta = {k: v.to(run.device) for k, v in saved["meta"].items()}
    run.opt_state = checkpoints.to_device(saved["optimizer"], run.device)
    run.generators = []
    for state in saved["generators"]:
        g = torch.Generator()
        g.set_state(state)
        run.generators.append(g)
    run.histories = [History.from_dict(h) for h in saved["histories"]]


# ---------------------------------------------------------------- one iteration
def _copies(run: _Training) -> int:
    return len(run.learners) * len(run.seeds)


def _copy_meta(run: _Training, i: int) -> Params:
    """Copy ``i``'s meta-parameters with its sweep values (``"hyper.<name>"``)."""
    return {k: v[i] for k, v in {**run.meta, **run.hyper}.items()}


def _meta_gradients(run: _Training, batches: list[TaskBatch], it: int):
    """The meta-gradients of every copy on its seed's batch (this process's share), summed over processes."""
    stacked = [torch.stack(ts)[:, run.local].to(run.device) for ts in zip(*(b.tensors() for b in batches))]
    if len(run.learners) > 1:  # every configuration trains on its seed's tasks
        stacked = [t.repeat(len(run.learners), *[1] * (t.dim() - 1)) for t in stacked]
    noise = [stream_seed(s, "noise") + it for _ in run.learners for s in run.seeds]
    grads, (loss, acc, adapted) = run.learner.meta_gradients({**run.meta, **run.hyper}, *stacked,
                                                             total_tasks=run.meta_batch, noise_seeds=noise)
    grads = {k: v for k, v in grads.items() if k in run.meta}  # the sweep's numbers are not trained
    if distributed.active():
        if run.learner.all_reduce_gradients:
            grads = distributed.all_reduce_sum(grads)
        loss, acc = distributed.all_reduce_sum({"l": loss, "a": acc}).values()
        adapted = {k: distributed.all_gather_cat(v, dim=1) for k, v in adapted.items()}
    bad = ~torch.isfinite(loss)
    if bad.any():
        first = int(bad.nonzero()[0])
        if run.on_nonfinite == "raise":
            which = f"seed {run.seeds[first % len(run.seeds)]}"
            if len(run.learners) > 1:
                which += f" of configuration {first // len(run.seeds)}"
            raise FloatingPointError(f"meta-loss is not finite ({float(loss[bad][0])}) at iteration {it} "
                                     f"for {which}; lower meta_lr or inner_lr")
        for i in bad.nonzero().flatten().tolist():
            if run.histories[i].diverged_at is None:
                run.histories[i].diverged_at = it
    return grads, loss, acc, adapted


def _log_diagnostics(run: _Training, it: int, batches: list[TaskBatch], adapted: dict[str, Tensor]) -> None:
    """Log the gradient conflict and the learner's adapted statistics of each copy (before its step)."""
    subsets = [b.select(slice(0, run.conflict_tasks)).to(run.device) for b in batches]
    stacked = [torch.stack(ts).repeat(len(run.learners), *[1] * ts[0].dim()) for ts in zip(*(b.tensors() for b in subsets))]
    with phase("diagnostics: gradient conflict"):
        conflicts = conflict_per_copy(run.learner, {**run.meta, **run.hyper}, stacked)
    for i, h in enumerate(run.histories):
        b = batches[i % len(run.seeds)]
        meta = _copy_meta(run, i)
        row = {"iteration": it, "conflict": conflicts[i]}
        if adapted:
            row.update(run.learner.adapted_statistics(meta, {k: v[i] for k, v in adapted.items()}, b.sign))
        h.log(row)


def _step(run: _Training, it: int) -> tuple[Tensor, Tensor]:
    """One meta-iteration of every seed: sample, meta-gradients, diagnostics, outer step."""
    batches = [run.tasks.sample(run.meta_batch, g) for g in run.generators]
    grads, loss, acc, adapted = _meta_gradients(run, batches, it)
    if it % run.log_every == 0:
        _log_diagnostics(run, it, batches, adapted)
    run.meta, run.opt_state = run.optimizer.step(run.meta, grads, run.opt_state)
    run.meta = run.learner.post_update(run.meta)
    return loss, acc


def _record(run: _Training, loss: Tensor, acc: Tensor, seconds: float) -> None:
    rates = {k: v.detach().cpu().tolist() for k, v in run.optimizer.rates(run.meta, run.opt_state).items()}
    for h, li, ai in zip(run.histories, loss.tolist(), acc.tolist()):
        h.meta_loss.append(li)
        h.accuracy.append(ai)
        h.seconds.append(seconds)
    for k, v in rates.items():
        for h, vi in zip(run.histories, v):
            h.rates.setdefault(k, []).append(vi)


def _save(run: _Training, done: int) -> None:
    checkpoints.save(run.checkpoint, {
        "config": run.config, "iteration": done, "meta": {k: v.cpu() for k, v in run.meta.items()},
        "optimizer": checkpoints.to_device(run.opt_state, "cpu"),
        "generators": [g.get_state() for g in run.generators], "histories": [h.to_dict() for h in run.histories]})


# ---------------------------------------------------------------- results
def _runs(run: _Training) -> list[Run]:
    """One :class:`Run` per copy (configuration-major), each with a copy of its own configuration."""
    out = []
    for i, h in enumerate(run.histories):
        trained = copy.deepcopy(run.learners[i // len(run.seeds)])
        with torch.no_grad():
            for k, p in trained.meta_parameters().items():
                p.copy_(run.meta[k][i])
        out.append(Run(h.seed, trained, h))
    return out


# ---------------------------------------------------------------- training
def meta_train_seeds(learner: MetaLearner, tasks: TaskFamily, seeds, iterations: int, *, meta_batch: int = 25,
                     meta_lr: float = 1e-3, progress: bool = True, checkpoint: str | None = None,
                     log_every: int = 50, device="auto", conflict_tasks: int = 16,
                     seed_chunk: int | None = None, on_nonfinite: str = "raise") -> list[Run]:
    """Meta-train one configuration for several seeds at once (vectorised over seeds).

    Each seed fixes its own initialisation (``learner.reset_parameters``) and its own
    task stream, so every seed's run equals :func:`~wormhole.meta_train` with that seed.

    Args:
        learner: the template :class:`~wormhole.MetaLearner`; it is copied for each seed and
            left unchanged.
        tasks: the training :class:`~wormhole.tasks.TaskFamily`.
        seeds: distinct integer seeds (e.g. ``range(5)``).
        iterations: meta-iterations (outer steps) per seed, in total when resuming.
        meta_batch: tasks per meta-batch (under ``torchrun``, a multiple of the number of processes).
        meta_lr: the outer optimiser's (initial) learning rate.
        progress: show a progress bar.
        checkpoint: a file path: the state is saved there every ``log_every`` iterations and
            at the end; if the file exists, training resumes from it, bit-identical to an
            uninterrupted run. ``None``: no checkpoints.
        log_every: log the diagnostics (gradient conflict, the learner's
            :meth:`~wormhole.MetaLearner.adapted_statistics`) every this many iterations, at
            iterations 0, log_every, 2·log_every, ... (a fixed grid, so resumed runs log alike).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or a ``torch.device``
            (:func:`~wormhole.devices.resolve_device`).
        conflict_tasks: tasks whose per-task meta-gradients measure the gradient conflict (>= 2).
        seed_chunk: vectorise at most this many seeds at a time (``None``: all). Small MLPs
            gain from one wide ``vmap``; convolutions on the CPU run faster one seed at a time
            (see ``benchmarks/README.md``). The results are the same either way.
        on_nonfinite: ``"raise"`` (stop with ``FloatingPointError``) or ``"continue"`` (a seed whose
            meta-loss turns non-finite keeps going with NaN values and records ``diverged_at``; the
            other seeds are unaffected), as for :func:`meta_train_sweep`.

    Returns:
        One :class:`~wormhole.Run` per seed, in the order of ``seeds``.

    Raises:
        ValueError: an argument is out of range (the message names it), or ``checkpoint`` was
            written with any other setting (of the run, the learner, its model or the tasks;
            the message names the setting).
        FloatingPointError: with ``on_nonfinite="raise"``, the meta-loss became non-finite (the
            message names the iteration and the seed).
    """
    if not isinstance(learner, MetaLearner):
        raise ValueError(f"learner must be a wormhole MetaLearner, got {type(learner).__name__}")
    (runs,) = meta_train_sweep([learner], tasks, seeds, iterations, meta_batch=meta_batch, meta_lr=meta_lr,
                               progress=progress, checkpoint=checkpoint, log_every=log_every, device=device,
                               conflict_tasks=conflict_tasks, seed_chunk=seed_chunk, on_nonfinite=on_nonfinite)
    return runs


def meta_train_sweep(learners, tasks: TaskFamily, seeds, iterations: int, *, meta_batch: int = 25,
                     meta_lr: float = 1e-3, progress: bool = True, checkpoint: str | None = None,
                     log_every: int = 50, device="auto", conflict_tasks: int = 16,
                     seed_chunk: int | None = None, on_nonfinite: str = "raise") -> list[list[Run]]:
    """Meta-train several configurations of one method for several seeds, all in one vectorised run.

    The configurations may differ only in the numbers their class lists in
    :attr:`~wormhole.MetaLearner.sweepable` (MAML: the inner rate α; Wormhole: α, α_w and w₀;
    the learned α_w's initial value too). Rates become per-copy tensors and initial values
    per-copy initialisations, so configurations × seeds train under one ``vmap``, and each
    copy's run equals :func:`meta_train_seeds` of its configuration alone (up to float rounding,
    since a rate is then a tensor). Every configuration trains on the same tasks for a given seed
    and starts from the same θ for that seed (:func:`meta_train_seeds` with one configuration is
    this function). Configurations that differ in anything else (a flag such as
    ``learn_wormhole_lr``, ``steps``, the model) train in separate calls.

    Args:
        learners: the configurations (:class:`~wormhole.MetaLearner` templates, left unchanged).
        tasks, seeds, iterations, meta_batch, meta_lr, progress, checkpoint, log_every, device, conflict_tasks: as
            for :func:`meta_train_seeds` (one checkpoint holds the whole sweep).
        seed_chunk: vectorise at most this many seeds of one configuration at a time (``None``:
            every copy at once); the results are the same either way.
        on_nonfinite: ``"raise"`` (stop with ``FloatingPointError``) or ``"continue"``: a copy whose
            meta-loss turns non-finite keeps training (its values stay NaN, the other copies are
            unaffected) and its history records ``diverged_at``; tuning scores it as diverged.

    Returns:
        ``runs[c][s]``: the :class:`~wormhole.Run` of configuration ``learners[c]`` with
        ``seeds[s]``; each run's learner is a copy of its own configuration, trained.

    Raises:
        ValueError: an argument is out of range, or the learners differ in anything but their
            sweepable numbers (the message names the setting).
        FloatingPointError: with ``on_nonfinite="raise"``, as for :func:`meta_train_seeds`.
    """
    learners = list(learners)
    if not learners:
        raise ValueError("learners must name at least one configuration")
    for i, learner in enumerate(learners):
        if not isinstance(learner, MetaLearner):
            raise ValueError(f"learners[{i}] must be a wormhole MetaLearner, got {type(learner).__name__}")
    if not isinstance(tasks, TaskFamily):
        raise ValueError(f"tasks must be a wormhole TaskFamily, got {type(tasks).__name__}")
    check_sweep(learners)
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers, got {seeds!r}")
    _checks.choice("on_nonfinite", on_nonfinite, ("raise", "continue"))
    if seed_chunk is not None and _checks.count("seed_chunk", seed_chunk) < len(seeds):
        if checkpoint is not None:
            raise ValueError("checkpoint needs seed_chunk=None (one file holds all seeds trained together)")
        return [[run for i in range(0, len(seeds), seed_chunk)
                 for run in meta_train_sweep([learner], tasks, seeds[i:i + seed_chunk], iterations,
                                             meta_batch=meta_batch, meta_lr=meta_lr, progress=progress,
                                             log_every=log_every, device=device, conflict_tasks=conflict_tasks,
                                             on_nonfinite=on_nonfinite)[0]]
                for learner in learners]
    _checks.count("iterations", iterations, minimum=0)
    _checks.count("meta_batch", meta_batch)
    meta_lr = _checks.positive("meta_lr", meta_lr)
    _checks.count("log_every", log_every)
    _checks.count("conflict_tasks", conflict_tasks, minimum=2)
    run = _set_up(learners, tasks, seeds, meta_batch, meta_lr, checkpoint, log_every, device, conflict_tasks,
                  on_nonfinite)
    if run.start > iterations:
        raise ValueError(f"iterations must be >= {run.start}, the iterations already in checkpoint {checkpoint!r}")

    configs = f" x{len(learners)} configs" if len(learners) > 1 else ""
    # tqdm's own switch TQDM_DISABLE=1 (which the book's build sets: a bar would freeze on a web
    # page) turns the bar off without the library knowing about the book; tqdm's notebook bar
    # ignores that variable, so it is read here
    quiet = {} if progress and distributed.rank() == 0 and not _bars_disabled() else {"disable": True}
    bar = tqdm(range(run.start, iterations), total=iterations, initial=run.start,
               desc=f"{type(learners[0]).__name__}{configs} x{len(seeds)} seeds", leave=False, **quiet)
    for it in bar:
        t0 = time.perf_counter()
        loss, acc = _step(run, it)
        _record(run, loss, acc, time.perf_counter() - t0)
        if not bar.disable:
            bar.set_postfix(loss=f"{float(loss.nanmean()):.4f}")
        done = it + 1
        if checkpoint is not None and distributed.rank() == 0 and (done % log_every == 0 or done == iterations):
            _save(run, done)
    bar.close()
    runs = _runs(run)
    return [runs[c * len(seeds):(c + 1) * len(seeds)] for c in range(len(learners))]


def narrow_sweep(checkpoint: str, out: str, configurations, seeds) -> None:
    """Write to ``out`` the checkpoint of the sweep saved at ``checkpoint`` narrowed to some of
    its configurations (indices into its ``learners``) and seeds (indices into its ``seeds``):
    :func:`meta_train_sweep` of those configurations and seeds with ``checkpoint=out`` then goes
    on from where the wider sweep stopped (the same parameters, optimiser state, task streams and
    histories; equal to the uninterrupted runs up to float rounding, since fewer copies are
    vectorised together). How successive halving continues its survivors instead of restarting
    them.

    Raises:
        ValueError: an index is out of range or repeated.
    """
    saved = checkpoints.load(checkpoint, None)
    config = dict(saved["config"])
    described = config.pop("learners", None) or [config.pop("learner")]
    configurations, seeds = [int(c) for c in configurations], [int(s) for s in seeds]
    for name, picked, n in (("configurations", configurations, len(described)),
                            ("seeds", seeds, len(config["seeds"]))):
        if not picked or len(set(picked)) != len(picked) or not all(0 <= i < n for i in picked):
            raise ValueError(f"{name} must be distinct indices below {n}; got {picked!r}")
    n_seeds = len(config["seeds"])
    rows = torch.tensor([c * n_seeds + s for c in configurations for s in seeds])

    def take(state):
        if isinstance(state, dict):
            return {k: take(v) for k, v in state.items()}
        return state[rows] if isinstance(state, Tensor) and state.dim() > 0 else state

    config["seeds"] = [config["seeds"][s] for s in seeds]
    kept = [described[c] for c in configurations]
    config.update({"learner": kept[0]} if len(kept) == 1 else {"learners": kept})
    checkpoints.save(out, {"config": config, "iteration": saved["iteration"], "meta": take(saved["meta"]),
                           "optimizer": take(saved["optimizer"]),
                           "generators": [saved["generators"][s] for s in seeds],
                           "histories": [saved["histories"][int(r)] for r in rows]})


def _bars_disabled() -> bool:
    """Whether ``TQDM_DISABLE`` (tqdm's environment switch) asks for no progress bars."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes", "on")


def meta_train(learner: MetaLearner, tasks: TaskFamily, iterations: int, *, meta_batch: int = 25,
               meta_lr: float = 1e-3, seed: int = 0, progress: bool = True, checkpoint: str | None = None,
               log_every: int = 50, device="auto", conflict_tasks: int = 16) -> History:
    """Meta-train ``learner`` in place on ``tasks`` with its outer optimiser (Adam; see
    :meth:`~wormhole.MetaLearner.outer_optimizer`) and return its :class:`~wormhole.History`.

    The seed fixes the initialisation and the task stream: the learner's parameters are
    re-initialised from it (or restored from ``checkpoint``). Deterministic on the CPU.
    Under ``torchrun`` (after :func:`wormhole.distributed.init`) the processes share every
    meta-batch and the result equals the single-process run.

    Args:
        learner: the :class:`~wormhole.MetaLearner` to train; its meta-parameters are replaced
            by the trained ones.
        tasks: the training :class:`~wormhole.tasks.TaskFamily`.
        iterations: meta-iterations (outer steps), in total when resuming from ``checkpoint``.
        meta_batch: tasks per meta-batch.
        meta_lr: the outer optimiser's (initial) learning rate (> 0).
        seed: fixes the initialisation and the stream of training tasks.
        progress: show a progress bar.
        checkpoint: a file path to save to every ``log_every`` iterations and to resume from
            if it exists (``None``: no checkpoints).
        log_every: log the diagnostics in ``History.logged`` every this many iterations.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        conflict_tasks: tasks whose per-task meta-gradients measure the gradient conflict (>= 2).

    Returns:
        The :class:`~wormhole.History` of the run.

    Raises:
        ValueError: an argument is out of range or a checkpoint does not match, as in
            :func:`~wormhole.meta_train_seeds`.
        FloatingPointError: the meta-loss became non-finite.

    Example::

        >>> import wormhole as wh
        >>> learner = wh.Wormhole(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
        >>> history = wh.meta_train(learner, wh.tasks.Threshold(), iterations=5, meta_batch=8,
        ...                         meta_lr=1e-3, seed=0, progress=False)
        >>> history.iterations, len(history.meta_loss)
        (5, 5)
    """
    (run,) = meta_train_seeds(learner, tasks, [seed], iterations, meta_batch=meta_batch, meta_lr=meta_lr,
                              progress=progress, checkpoint=checkpoint, log_every=log_every, device=device,
                              conflict_tasks=conflict_tasks)
    learner.to(next(run.learner.parameters()).device)
    learner.load_state_dict(run.learner.state_dict())
    return run.history
