"""Run a comparison of meta-learners over seeds, evaluate them on shared tasks, save the metrics.

The chapters and the CLI call :func:`compare`; the training loop lives in
:func:`wormhole.meta_train_seeds` and is never repeated in a notebook.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import models, tasks as task_families
from .diagnostics import adaptation_statistics
from .evaluation import Evaluation, evaluate
from .learners import MAML, Wormhole
from .checkpoints import atomic_write
from .stats import Paired, mean_ci, paired
from .tasks.base import TaskFamily
from .seeding import stream_seed
from .timing import phase
from .training import Run, meta_train_seeds

STEPS = (0, 1, 2, 5, 10)


@dataclass
class MethodResult:
    """One method's runs (one per seed) and their evaluations on the shared evaluation tasks."""

    name: str
    runs: list
    evaluations: list
    usage: list = field(default_factory=list)
    wall_seconds: float = 0.0
    measures: dict = field(default_factory=dict)
    start: dict = field(default_factory=dict)

    def meta_learned(self) -> dict[str, list[float]]:
        """How far the method's own meta-learned quantities moved in training (w₀, a learned α_w
        or α: every meta-parameter beyond the network's θ): ``{name: [start, mean over seeds at
        the end]}``, each the mean over the quantity's entries; a rate learned as a log is shown
        as the rate (``"log_wormhole_lr"`` → ``"wormhole_lr"``). Empty for MAML."""
        out = {}
        for key, first in self.start.items():
            # merged replication sets may have selected different settings: a quantity that one
            # set's selection meta-learns (a learned α_w) may be absent from the other's runs
            params = [r.learner.meta_parameters() for r in self.runs]
            ends = [float(p[key].detach().float().mean()) for p in params if key in p]
            if not ends:
                continue
            end = float(np.mean(ends))
            name = key.rsplit(".", 1)[-1]
            if name.startswith("log_"):
                name, first, end = name[4:], float(np.exp(first)), float(np.exp(end))
            out[name] = [float(first), end]
        return out

    def per_seed(self, steps: int = 1, metric: str = "loss") -> np.ndarray:
        """One value per seed of ``metric``: ``"loss"`` or ``"accuracy"`` (mean over the evaluation
        tasks after ``steps`` inner steps), ``"conflict"`` (gradient conflict, mean of the last
        logged iterations of training), ``"conflict_during_training"`` (its mean over every logged
        iteration), or the name of a measure added with :meth:`add_measure`."""
        if metric == "conflict":
            return self.final_logged("conflict")
        if metric == "conflict_during_training":
            return self.mean_logged("conflict")
        if metric in self.measures:
            return np.asarray(self.measures[metric], dtype=float)
        if metric not in ("loss", "accuracy"):
            raise ValueError(f"metric must be 'loss', 'accuracy', 'conflict', 'conflict_during_training' "
                             f"or a measure added with add_measure ({sorted(self.measures)}); got {metric!r}")
        j = self.evaluations[0].steps.index(steps)
        return np.array([getattr(e, metric)[:, j].mean() for e in self.evaluations])

    def diverged(self) -> list[int]:
        """The seeds whose training diverged (a non-finite meta-loss at some iteration)."""
        return [r.seed for r in self.runs if r.history.diverged_at is not None]

    def add_measure(self, name: str, per_seed_values) -> None:
        """Record one more per-seed measurement (saved as ``per_seed_<name>``)."""
        values = np.asarray(per_seed_values, dtype=float).ravel()
        if values.size != len(self.runs):
            raise ValueError(f"add_measure needs one value per seed ({len(self.runs)}), got {values.size}")
        self.measures[name] = values

    def curve(self, key: str, smooth: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(iterations, mean, ci)`` over seeds of a per-iteration history field, or a logged one."""
        if key in ("meta_loss", "accuracy"):
            vals = np.array([getattr(r.history, key) for r in self.runs], dtype=float)
            if smooth > 1:
                kernel = np.ones(smooth) / smooth
                vals = np.array([np.convolve(v, kernel, mode="valid") for v in vals])
            its = np.arange(vals.shape[1]) + (smooth - 1)
        else:
            vals = np.array([r.history.logged[key] for r in self.runs], dtype=float)
            its = np.array(self.runs[0].history.logged["iteration"])
        m, h = mean_ci(vals, axis=0)
        return its, m, h

    def final_logged(self, key: str, last: int = 3) -> np.ndarray:
        """Per seed, the mean of the last ``last`` logged values of ``key``."""
        return np.array([np.mean(r.history.logged[key][-last:]) for r in self.runs])

    def mean_logged(self, key: str) -> np.ndarray:
        """Per seed, the mean of ``key`` over every logged iteration of training."""
        return np.array([np.mean(r.history.logged[key]) for r in self.runs])

    def seconds_per_iteration(self) -> np.ndarray:
        """Per seed, the median wall-clock seconds of one meta-iteration (:meth:`wormhole.History.seconds_per_iteration`)."""
        return np.array([r.history.seconds_per_iteration() for r in self.runs])

    def means(self) -> dict[str, float]:
        """Every estimate of :meth:`summary` that is a mean over seeds with its CI, as its mean alone,
        by name: ``means()["w0_mean"]``, ``means()["conflict"]``, ``means()["seconds_per_iteration"]``
        (the adapted-multiplier statistics, conflict and time; loss and accuracy per step are under
        :meth:`per_seed`)."""
        return {k: float(v[0]) for k, v in self.summary().items()
                if isinstance(v, list) and len(v) == 2 and all(isinstance(x, float) for x in v)}

    def summary(self) -> dict:
        """Plain data for the metrics file: loss and accuracy after each number of inner steps
        (mean and 95% CI half-width over seeds, and per seed), gradient conflict, time per iteration,
        added measures, the adapted-multiplier statistics if any, the learner's record and the seeds."""
        def ci(values):
            m, h = mean_ci(values)
            return [float(m), float(h)]

        steps = self.evaluations[0].steps
        out = {"loss": {s: ci(self.per_seed(s)) for s in steps},
               "accuracy": {s: ci(self.per_seed(s, "accuracy")) for s in steps},
               "per_seed_loss": {s: self.per_seed(s).tolist() for s in steps},
               "per_seed_accuracy": {s: self.per_seed(s, "accuracy").tolist() for s in steps},
               "per_seed_conflict": self.final_logged("conflict").tolist(),
               "per_seed_conflict_during_training": self.mean_logged("conflict").tolist(),
               **{f"per_seed_{k}": np.asarray(v).tolist() for k, v in self.measures.items()},
               "conflict": ci(self.final_logged("conflict")),
               "conflict_first": ci(np.array([r.history.logged["conflict"][0] for r in self.runs])),
               "conflict_during_training": ci(self.mean_logged("conflict")),
               "seconds_per_iteration": ci(self.seconds_per_iteration()),
               "learner": self.runs[0].learner.describe(), "seeds": [r.seed for r in self.runs],
               "diverged_in_training": self.diverged(), "meta_learned": self.meta_learned()}
        for k in (self.usage[0] if self.usage else {}):   # the learner's own adaptation statistics
            vals = np.array([u[k] for u in self.usage], dtype=float)
            out[k] = ci(vals) if np.isfinite(vals).all() else [float("nan"), float("nan")]
        return out


@dataclass
class Comparison:
    """Several methods trained on the same tasks with the same budget and seeds."""

    name: str
    methods: dict
    config: dict

    def __getitem__(self, key) -> MethodResult:
        return self.methods[key]

    def summary(self) -> dict:
        """Plain data: the comparison's name, configuration and every method's
        :meth:`MethodResult.summary`."""
        return {"name": self.name, "config": self.config,
                "methods": {k: m.summary() for k, m in self.methods.items()}}

    def table(self, steps=(0, 1, 10), title: str = ""):
        """Query loss / accuracy after 0, 1, 10 inner steps (mean ± 95% CI over seeds), gradient
        agreement at the end of training and milliseconds per meta-iteration, as a
        :class:`wormhole.display.Table`: an HTML table narrow enough for the book's column when it
        is a cell's last expression (or passed to ``display``), plain text when printed. Accuracy
        is left out for regression; a number that does not apply reads ``n/a``."""
        from .display import AGREEMENT_SHORT, over_seeds, table

        has_acc = all(np.isfinite(m.per_seed(steps[0], "accuracy")).all() for m in self.methods.values())
        head = ["method"] + [f"loss@{s}" for s in steps] + ([f"acc@{s}" for s in steps] if has_acc else [])
        head += [AGREEMENT_SHORT, "ms/iter"]
        rows = []
        for name, m in self.methods.items():
            row = [name] + [over_seeds(m.per_seed(s)) for s in steps]
            if has_acc:
                row += [over_seeds(m.per_seed(s, "accuracy")) for s in steps]
            ms = 1000 * m.seconds_per_iteration()
            row += [over_seeds(m.final_logged("conflict"), signed=True),
                    f"{np.median(ms):.1f}" if ms.size else "n/a"]
            rows.append(row)
        note = ("loss/acc@k: on the evaluation tasks after k inner steps, mean ± 95% CI over "
                f"{len(next(iter(self.methods.values())).runs)} seeds; {AGREEMENT_SHORT}: mean cosine of the tasks' "
                "meta-gradients over the last logged iterations (higher = less conflict, < 0 = conflict); "
                "ms/iter: median time of one meta-iteration on the machine that ran this page.")
        return table(rows, head, title=title, note=note)

    def record(self, problem: str | None = None) -> dict:
        """:meth:`summary` with the tags the results page files it under: ``problem`` (the claim
        group: ``"threshold"``, ``"wavelet"``, ``"mnist"``, ``"expressivity"``; ``None``: shown only
        in its chapter) and ``control`` (the training tasks do not conflict), and the book build it
        belongs to (:func:`wormhole.book.provenance`, which the results page checks; ``config["quick"]``)."""
        from .book import provenance   # the book's layer, loaded only when a record is made for it

        summary = self.summary()
        summary["config"] = dict(summary["config"])   # the comparison's own config stays as it was
        flip = summary["config"]["train_tasks"].get("flip")
        summary["config"].update(problem=problem, control=flip is False, quick=provenance()["quick"])
        return {**summary, "provenance": provenance()}

    def subset(self, seeds) -> "Comparison":
        """The same comparison restricted to ``seeds`` (each one of its seeds), in that order: every
        method's runs, evaluations and statistics of those seeds only."""
        seeds = [int(s) for s in seeds]
        have = list(self.config["seeds"])
        missing = [s for s in seeds if s not in have]
        if missing or not seeds:
            raise ValueError(f"seeds must name some of the comparison's seeds {have}; got {seeds}")
        index = [have.index(s) for s in seeds]

        def pick(values):
            return [values[i] for i in index] if values else values

        methods = {name: MethodResult(name, pick(m.runs), pick(m.evaluations), pick(m.usage), m.wall_seconds,
                                      {k: pick(list(v)) for k, v in m.measures.items()}, dict(m.start))
                   for name, m in self.methods.items()}
        return Comparison(self.name, methods, {**self.config, "seeds": seeds})

    def save(self, path: str | os.PathLike | None = None, problem: str | None = None) -> dict:
        """Write :meth:`record` as JSON (default: the book's ``metrics_dir()/<name>.json``) and return it."""
        if path is None:
            from .book import metrics_dir

            path = metrics_dir() / f"{self.name}.json"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = self.record(problem)
        text = json.dumps(record, indent=1, default=_jsonable)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))
        return json.loads(text)


def _jsonable(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, (tuple, set)):
        return list(o)
    return str(o)



#: at most this many of the evaluation tasks measure how each run uses its adapted quantities
#: (w's flips, sign agreement): enough for a fraction to ±6 points, and cheap beside evaluation
USAGE_TASKS = 256


def usage_tasks(eval_tasks, n_eval: int, eval_seed: int):
    """The tasks on which a comparison measures the adapted quantities' use: the first
    ``min(n_eval, USAGE_TASKS)`` of a stream of ``eval_tasks`` seeded apart from evaluation's, the
    same for every method and seed."""
    return eval_tasks.sample(min(n_eval, USAGE_TASKS),
                             torch.Generator().manual_seed(stream_seed(eval_seed, "eval") + 1))

def compare(name: str, learners: dict, train_tasks: TaskFamily, eval_tasks: TaskFamily, seeds=range(5), *,
            iterations: int = 1000, meta_batch: int = 25, meta_lr: float = 1e-3, n_eval: int = 500,
            steps=STEPS, log_every: int = 50, eval_seed: int = 1234, progress: bool = True,
            device="auto", seed_chunk: int | None = None, resume: dict | None = None,
            timing: str = "comparison") -> Comparison:
    """Meta-train each learner template for every seed (same tasks, budget and seeds), then
    evaluate every run on the same ``n_eval`` tasks from ``eval_tasks`` (seeded by ``eval_seed``,
    a stream separate from training's). ``seed_chunk`` as in :func:`~wormhole.meta_train_seeds`.

    A run that diverges never stops the comparison: its training goes on with NaN values (its
    history records ``diverged_at``), every metric of that seed is NaN (loss, accuracy,
    conflict), and the comparison it enters is decided by :mod:`wormhole.stats`' rule for
    diverged runs. ``MethodResult.diverged()`` lists the seeds that diverged in training.

    ``resume``: ``{label: (seeds, checkpoint)}``: that method's runs with those ``seeds`` go on
    from ``checkpoint`` (written by :func:`~wormhole.meta_train_seeds` with the same settings, e.g.
    by :func:`wormhole.tuning.converged_budget`) up to ``iterations``, exactly as if trained in one
    go; its other seeds train from the start. ``timing``: the name its phases are timed under
    (:mod:`wormhole.timing`: ``"<timing>: training"``, ...), so that a chapter's time splits into
    what it is spent on."""
    seeds = list(seeds)
    results = {}
    usage_batch = usage_tasks(eval_tasks, n_eval, eval_seed)
    for label, learner in learners.items():
        t0 = time.perf_counter()
        train = dict(progress=progress, log_every=log_every, device=device, on_nonfinite="continue")
        with phase(f"{timing}: training"):
            if label in (resume or {}):
                done, path = resume[label]
                done = [s for s in seeds if s in set(done)]
                rest = [s for s in seeds if s not in set(done)]
                by_seed = {r.seed: r for r in meta_train_seeds(learner, train_tasks, done, iterations,
                                                               meta_batch=meta_batch, meta_lr=meta_lr,
                                                               checkpoint=path, **train)}
                if rest:
                    by_seed.update({r.seed: r for r in meta_train_seeds(learner, train_tasks, rest, iterations,
                                                                        meta_batch=meta_batch, meta_lr=meta_lr,
                                                                        seed_chunk=seed_chunk, **train)})
                runs: list[Run] = [by_seed[s] for s in seeds]
            else:
                runs = meta_train_seeds(learner, train_tasks, seeds, iterations, meta_batch=meta_batch,
                                        meta_lr=meta_lr, seed_chunk=seed_chunk, **train)
        wall = time.perf_counter() - t0
        with phase(f"{timing}: evaluation"):
            evals: list[Evaluation] = [evaluate(r.learner, eval_tasks, n_eval, steps=steps, seed=eval_seed, device=device)
                                       for r in runs]
        with phase(f"{timing}: adaptation statistics"):
            usage = [adaptation_statistics(r.learner, usage_batch.to(next(r.learner.parameters()).device))
                     for r in runs]
        usage = usage if usage[0] else []  # the learner's own statistics of what it adapted, if any
        meta = learner.meta_parameters()
        own = {k: float(v.detach().float().mean()) for k, v in meta.items() if k not in learner.network_keys(meta)}
        results[label] = MethodResult(label, runs, evals, usage, wall, start=own)
    config = {"seeds": seeds, "iterations": iterations, "meta_batch": meta_batch, "meta_lr": meta_lr,
              "n_eval": n_eval, "eval_seed": eval_seed, "train_tasks": train_tasks.describe(),
              "eval_tasks": eval_tasks.describe()}
    return Comparison(name, results, config)


def merge(name: str, parts: list[Comparison]) -> Comparison:
    """One comparison from ``parts`` trained on disjoint seeds with the same methods, iterations and
    evaluation (e.g. the two replication sets of a fair fight, each with its own selected
    settings): every method's runs, evaluations and statistics, the parts' seeds in order. The
    config is the first part's, with ``seeds`` the union and ``sets`` each part's seeds; a
    method's ``start`` (its own meta-learned quantities before training) is, for each quantity,
    the mean over the parts whose selection has it, weighted by their seeds."""
    if not parts:
        raise ValueError("parts must hold at least one comparison")
    labels = list(parts[0].methods)
    for i, p in enumerate(parts[1:], 1):
        if list(p.methods) != labels:
            raise ValueError(f"parts[{i}] has methods {list(p.methods)}, parts[0] has {labels}")
        for key in ("iterations", "meta_batch", "meta_lr", "n_eval", "eval_seed", "train_tasks", "eval_tasks"):
            if p.config.get(key) != parts[0].config.get(key):
                raise ValueError(f"parts[{i}] differs from parts[0] in {key!r}: {p.config.get(key)!r} vs "
                                 f"{parts[0].config.get(key)!r}")
    seeds = [s for p in parts for s in p.config["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the parts' seeds must be disjoint; got {[p.config['seeds'] for p in parts]}")
    methods = {}
    for label in labels:
        ms = [p.methods[label] for p in parts]
        n = [len(m.runs) for m in ms]
        # the union of the parts' meta-learned quantities, each averaged over the parts that have it
        keys = list(dict.fromkeys(k for m in ms for k in m.start))
        start = {k: float(np.average([m.start[k] for m in ms if k in m.start],
                                     weights=[w for m, w in zip(ms, n) if k in m.start])) for k in keys}
        usage = [u for m in ms for u in m.usage] if all(m.usage for m in ms) else []
        measures = {k: [v for m in ms for v in m.measures.get(k, [])] for k in ms[0].measures}
        methods[label] = MethodResult(label, [r for m in ms for r in m.runs],
                                      [e for m in ms for e in m.evaluations], usage,
                                      sum(m.wall_seconds for m in ms), measures, start)
    config = {**parts[0].config, "seeds": seeds, "sets": [list(p.config["seeds"]) for p in parts]}
    return Comparison(name, methods, config)


# ---------------------------------------------------------------- presets for the CLI
def preset(problem: str, method: str, quick_mode: bool = False):
    """``(learner, train_tasks, eval_tasks, meta_lr)`` of a problem's default setting."""
    if problem == "threshold":
        model, loss, lr = models.MLP(1, (40, 40), 1), "bce", 0.4
        train, test = task_families.Threshold(), task_families.Threshold()
        meta_lr = 1e-3
    elif problem == "wavelet":
        model, loss, lr = models.MLP(1, (40, 40), 1), "mse", 0.01
        train, test = task_families.WaveletRegression(), task_families.WaveletRegression()
        meta_lr = 1e-3
    elif problem == "mnist":
        model, loss, lr = models.ConvNet(1, hidden=8 if quick_mode else 16), "bce", 0.4
        train = task_families.MNISTPairs(split="train")
        test = task_families.MNISTPairs(split="test")
        meta_lr = 1e-3
    else:
        raise ValueError(f"problem must be one of 'threshold', 'wavelet', 'mnist'; got {problem!r}")
    if method == "maml":
        learner = MAML(model, loss=loss, inner_lr=lr, steps=1)
    elif method == "wormhole":
        learner = Wormhole(model, loss=loss, inner_lr=lr, steps=1)
    else:
        raise ValueError(f"method must be one of 'maml', 'wormhole'; got {method!r}")
    return learner, train, test, meta_lr


def metric_label(metric: str, steps: int = 1) -> str:
    """``"accuracy@1"``, ``"conflict (end of training)"``, ..."""
    return {"conflict": "conflict (end of training)", "conflict_during_training": "conflict (mean over training)",
            "loss": f"loss@{steps}", "accuracy": f"accuracy@{steps}",
            "added_directions": "added function-space directions (meta-learned start)",
            "added_directions_adapted": "added function-space directions (adapted)"}.get(metric, metric)


def contrast(comparison: Comparison, baseline: str, candidate: str, *, steps: int = 1, metric: str = "loss",
             level: float = 0.95) -> Paired:
    """The paired comparison of ``candidate`` against ``baseline`` on a per-seed ``metric``
    (see :meth:`MethodResult.per_seed`; lower loss is better, higher everything else), by the
    book's one rule (:func:`wormhole.stats.paired`). One comparison on its own: a claim made
    of several goes through :func:`wormhole.stats.judge`, which corrects for their number."""
    higher = metric != "loss"
    return paired(comparison[candidate].per_seed(steps, metric), comparison[baseline].per_seed(steps, metric),
                  higher_is_better=higher, level=level,
                  label=f"{comparison.name} · {candidate} vs {baseline} · {metric_label(metric, steps)}")


def standing(c: Paired) -> str:
    """Where a :func:`contrast`'s candidate stands against its baseline, in words: ``"ahead of"``,
    ``"behind"`` (the paired difference excludes zero at the contrast's level) or ``"level with"``."""
    if c.p_value < 1 - c.level or c.decided_by_divergence:
        return {"better": "ahead of", "worse": "behind"}.get(c.direction(), "level with")
    return "level with"


def describe_contrast(c: Paired) -> str:
    """One line for a :func:`contrast`: the paired difference with its CI and what it says alone."""
    significant = c.p_value < 1 - c.level
    word = c.direction() if significant else "no significant difference"
    note = c.divergence_note()
    if not np.isfinite(c.diff) and not c.decided_by_divergence:
        word = "undecided"
    return (f"{c.label}: difference {c.difference_text()} ({c.level:.0%} CI, paired over {c.n} seeds, "
            f"p = {c.p_value:.2g}{', ' + note if note else ''}) → {word}")
