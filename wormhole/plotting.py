"""The book's figures: each takes a Comparison (or learners) and returns a matplotlib Figure.

Every figure is drawn at most :data:`COLUMN_INCHES` wide with text of at least 9 pt
(:data:`STYLE`), so that the book shows it at full size in its text column (tests/test_browser.py
checks that no figure is shrunk) with legible labels. Chapters draw their own figures in the same
style with :func:`use_book_style` (or ``with plt.rc_context(wh.plotting.STYLE):``).
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import numpy as np
import torch

from .numbers import hide_diverged, number
from .stats import mean_ci

#: the book's text column, in inches at the 100 dpi of inline figures (688 CSS pixels)
COLUMN_INCHES = 6.8
#: text of at least 9 pt everywhere
STYLE = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9,
         "ytick.labelsize": 9, "legend.fontsize": 9, "figure.titlesize": 10.5, "legend.framealpha": 0.85}
#: the conflict measure's axis label: its name and which way is better
AGREEMENT_AXIS = "gradient agreement (cosine)\nhigher = less conflict"


def use_book_style() -> None:
    """Make :data:`STYLE` matplotlib's default for the rest of the session (a chapter's own figures)."""
    plt.rcParams.update(STYLE)


def _styled(draw):
    """Draw the figure under :data:`STYLE`."""
    @functools.wraps(draw)
    def styled(*args, **kwargs):
        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)
    return styled


def _band(ax, x, m, h, label):
    m, h = hide_diverged(m), hide_diverged(h)   # a blown-up seed must not set the axis
    line, = ax.plot(x, m, label=label)
    if np.isfinite(h).all():
        ax.fill_between(x, m - h, m + h, color=line.get_color(), alpha=0.2)


def _loss_and_accuracy_axes(has_acc: bool):
    return plt.subplots(1, 2 if has_acc else 1, figsize=(COLUMN_INCHES if has_acc else 4.6, 3.0), squeeze=False)


@_styled
def training_curves(comparison, smooth: int = 20, title: str = ""):
    """Meta-training query loss (and accuracy, for classification) vs iteration, mean ± 95% CI over
    seeds; ``title`` goes above the panels."""
    first = next(iter(comparison.methods.values()))
    has_acc = np.isfinite(first.runs[0].history.accuracy).all()
    fig, axes = _loss_and_accuracy_axes(has_acc)
    for name, m in comparison.methods.items():
        s = min(smooth, len(m.runs[0].history.meta_loss))
        _band(axes[0, 0], *m.curve("meta_loss", s), name)
        if has_acc:
            _band(axes[0, 1], *m.curve("accuracy", s), name)
    axes[0, 0].set(xlabel="meta-iteration", ylabel="query loss after adaptation")
    if has_acc:
        axes[0, 1].set(xlabel="meta-iteration", ylabel="query accuracy after adaptation")
    axes[0, 0].legend()
    fig.suptitle(title or "meta-training (mean ± 95% CI over seeds)")
    fig.tight_layout()
    return fig


@_styled
def inner_steps(comparison):
    """Query loss and accuracy vs the number of inner steps at evaluation (mean ± 95% CI over seeds)."""
    first = next(iter(comparison.methods.values()))
    steps = first.evaluations[0].steps
    has_acc = np.isfinite(first.per_seed(steps[0], "accuracy")).all()
    fig, axes = _loss_and_accuracy_axes(has_acc)
    for name, m in comparison.methods.items():
        for ax, metric in zip(axes[0], ("loss", "accuracy")):
            vals = np.array([m.per_seed(s, metric) for s in steps])
            mean, h = mean_ci(hide_diverged(vals), axis=1)
            ax.errorbar(steps, mean, yerr=h, marker="o", capsize=3, label=name)
    axes[0, 0].set(xlabel="inner steps", ylabel="query loss")
    if has_acc:
        axes[0, 1].set(xlabel="inner steps", ylabel="query accuracy")
    axes[0, 0].legend()
    fig.suptitle("after adaptation, on the evaluation tasks (mean ± 95% CI over seeds)")
    fig.tight_layout()
    return fig


@_styled
def conflict(comparison, ax=None, title: str = "gradient agreement during training"):
    """Gradient agreement (the conflict measure): mean pairwise cosine of per-task meta-gradients
    over training (mean ± 95% CI over seeds); higher = less conflict, below 0 = conflict. Draws
    into ``ax`` when given, so that panels can be combined."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 3.2))
    for name, m in comparison.methods.items():
        _band(ax, *m.curve("conflict"), name)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel="meta-iteration", ylabel=AGREEMENT_AXIS, title=title)
    ax.legend()
    ax.figure.tight_layout()
    return ax.figure


@_styled
def wormhole_values(comparison, methods=None):
    """w₀ over training and the adapted w on the flipped and unflipped evaluation tasks. Every bar
    is labelled with its value (a method whose w never changes sign shows "0%", not an empty
    slot); a task kind that the evaluation tasks lack shows "n/a"."""
    names = [n for n, m in comparison.methods.items() if m.usage and (methods is None or n in methods)]
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_INCHES, 3.2))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        m = comparison.methods[name]
        _band(axes[0], *m.curve("w0_mean"), f"{name}: w₀")
        _band(axes[0], *m.curve("adapted_w_mean"), f"{name}: adapted w")
        flips = [[u["flip_fraction_flipped_tasks"] for u in m.usage], [u["flip_fraction_unflipped_tasks"] for u in m.usage]]
        values = [float(np.nanmean(f)) if np.isfinite(f).any() else np.nan for f in flips]
        pos = np.arange(2) + width * (i - (len(names) - 1) / 2)
        bars = axes[1].bar(pos, np.nan_to_num(values), width=width, label=name)
        axes[1].bar_label(bars, ["n/a" if not np.isfinite(v) else f"{v:.0%}" for v in values], fontsize=9, padding=2)
    axes[0].axhline(0, color="k", lw=0.8)
    axes[0].set(xlabel="meta-iteration", ylabel="multiplier", title="w₀ and adapted w")
    axes[1].set_xticks(np.arange(2), ["flipped tasks", "unflipped tasks"])
    axes[1].set(ylabel="tasks where w changes sign", title="does the inner loop use the wormhole?", ylim=(0, 1.15))
    axes[1].yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
    fig.tight_layout()
    return fig


@_styled
def adapted_fits(learners: dict, batch, steps=(0, 1, 10), n_tasks: int = 3):
    """MAML-sinusoid-style panels: the true curve, the support points and the fit after each number of steps.

    ``learners`` maps a name to a learner; ``batch`` is a 1-D regression TaskBatch whose query set is dense.
    One row per learner, one column per task; axes labelled, one legend below the panels.
    """
    fig, axes = plt.subplots(len(learners), n_tasks, figsize=(COLUMN_INCHES, 1.9 * len(learners) + 0.6),
                             squeeze=False, sharex=True)
    for row, (name, learner) in enumerate(learners.items()):
        dev = next(learner.parameters()).device
        for col in range(n_tasks):
            ax = axes[row, col]
            qx, qy = batch.query_x[col].to(dev), batch.query_y[col]
            order = qx[:, 0].argsort()
            ax.plot(qx[order, 0].cpu(), qy[order, 0], "k", lw=2, label="truth")
            ax.plot(batch.support_x[col, :, 0], batch.support_y[col, :, 0], "r^", label="support")
            for s in steps:
                fast = learner.adapt(batch.support_x[col].to(dev), batch.support_y[col].to(dev), steps=s)
                with torch.no_grad():
                    pred = learner.predict(fast, qx).cpu()
                ax.plot(qx[order, 0].cpu(), pred[order, 0], "--", label=f"{s} steps")
            ax.set_title(f"{name}, task {col} (sign {int(batch.sign[col]):+d})", fontsize=9)
            if row == len(learners) - 1:
                ax.set_xlabel("input x")
            if col == 0:
                ax.set_ylabel("target y")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.08 if len(learners) > 1 else 0.12, 1, 1))
    return fig


@_styled
def meta_loss_landscape(alpha: float = 0.1, alpha_w: float = 0.5, w0: float = 1.0, u=(0.6, 0.8), ax=None):
    """One-step meta-loss of MAML and the wormhole (parameter placement) on the quadratic tasks ±u,
    along the line θ = s·u, from the closed forms in :mod:`wormhole.theory`."""
    from . import theory

    u = np.asarray(u, dtype=float)
    s = np.linspace(-2, 2, 201)
    maml = [theory.maml_meta_loss(si * u, u, alpha) for si in s]
    worm = [theory.wormhole_meta_loss(si * u, w0, u, alpha, alpha_w) for si in s]
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(s, maml, label="MAML")
    ax.plot(s, worm, label=f"wormhole (w₀ = {w0:.2f}, α_w = {alpha_w:.2f})")
    ax.set(xlabel="initialisation θ = s·u", ylabel="meta-loss after one step", ylim=(-0.02, max(1.0, max(maml) * 1.05)),
           title=f"α = {alpha:.2f}")
    ax.legend()
    return ax.figure


@_styled
@_styled
def wormhole_landscape(landscape, ax=None):
    """Heatmap of Wormhole's paired improvement over the baseline across (α_w, w₀)
    (:func:`wormhole.tuning.landscape`; positive = better than the baseline), with each cell's
    flip fraction (how often the inner loop sent w through 0 on flipped tasks) written in it.
    Cells whose 95% CI excludes 0 are outlined."""
    if ax is None:
        _, ax = plt.subplots(figsize=(COLUMN_INCHES, 4.6))
    imp = landscape.improvement
    shown = hide_diverged(imp)
    finite = np.abs(shown[np.isfinite(shown)])
    # the colour scale follows most cells, not the most extreme one: a few large cells saturate
    # instead of washing every small but real difference out to white
    lim = float(np.quantile(finite, 0.8)) if finite.size else 1.0
    lim = lim if lim > 0 else (float(finite.max()) if finite.size and finite.max() > 0 else 1.0)
    im = ax.imshow(shown, cmap="RdBu", vmin=-lim, vmax=lim, origin="lower", aspect="auto")
    ax.set_xticks(range(len(landscape.w0s)), [f"{w:g}" for w in landscape.w0s])
    ax.set_yticks(range(len(landscape.wormhole_lrs)),
                  [f"{a / landscape.inner_lr:.3g}α" for a in landscape.wormhole_lrs])
    ax.set(xlabel="initial multiplier w₀", ylabel="wormhole step α_w (multiple of α)")
    half = landscape.half_width
    for i in range(imp.shape[0]):
        for j in range(imp.shape[1]):
            flip = landscape.flip_fraction[i, j]
            value = number(imp[i, j], signed=True, reason="no run")
            text = f"{value}\nflips {flip:.0%}" if np.isfinite(flip) else f"{value}\nflips n/a"
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if np.isfinite(shown[i, j]) and abs(shown[i, j]) > 0.6 * lim else "black")
            if np.isfinite(half[i, j]) and abs(imp[i, j]) > half[i, j]:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, color="k"))
    metric = "loss reduction" if landscape.metric == "loss" else f"{landscape.metric} gain"
    bar = ax.figure.colorbar(im, ax=ax, extend="both")
    bar.set_label(f"{metric}@{landscape.steps} over {landscape.baseline}", labelpad=6)
    ax.set_title(f"Wormhole vs {landscape.baseline} at α = {landscape.inner_lr:.3g}\noutlined: 95% CI excludes 0")
    ax.figure.tight_layout()
    return ax.figure


@_styled
@_styled
def conflict_strength(comparisons: dict, steps: int = 1):
    """The abstract's central claim, tested directly: for each method, the query loss after
    ``steps`` inner steps and the gradient agreement (mean cosine of per-task meta-gradients over
    training; higher = less conflict) against the probability that a task is flipped (the
    strength of the conflict). ``comparisons``: ``{flip probability: Comparison}`` with the same
    methods. Mean ± 95% CI over seeds."""
    ps = sorted(comparisons)
    methods = list(comparisons[ps[0]].methods)
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_INCHES, 3.2))
    for k, name in enumerate(methods):
        for ax, metric, kw in ((axes[0], "loss", {"steps": steps}), (axes[1], "conflict_during_training", {})):
            vals = [comparisons[p][name].per_seed(kw.get("steps", 1), metric) for p in ps]
            m = np.array([mean_ci(v)[0] for v in vals])
            h = np.array([mean_ci(v)[1] for v in vals])
            ax.errorbar(np.array(ps) + (k - len(methods) / 2) * 0.004, m, yerr=h, marker="o", capsize=3, label=name)
    axes[0].set(xlabel="probability that a task is flipped", ylabel=f"query loss after {steps} step(s)",
                title="after adaptation (lower is better)")
    axes[1].set(xlabel="probability that a task is flipped", ylabel=AGREEMENT_AXIS,
                title="over training")
    axes[1].axhline(0, color="k", lw=0.8)
    axes[0].legend(fontsize=9)
    fig.tight_layout()
    return fig


def overlapping_text(fig, pad: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts of ``fig`` (titles, labels, tick labels, legend entries,
    annotations) whose drawn boxes overlap by more than ``pad`` pixels each way: text that a
    reader cannot read. Empty for a clean figure; the book's tests run it on its figures."""
    import matplotlib.text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks, texts = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for label in (tick.label1, tick.label2):
                    ticks.add(id(label))
                    # matplotlib keeps labels for ticks outside the view; only the drawn ones count
                    if low - 1e-9 * abs(high - low) <= tick.get_loc() <= high + 1e-9 * abs(high - low):
                        texts.append(label)
    texts += [t for t in fig.findobj(matplotlib.text.Text) if id(t) not in ticks]
    boxes = []
    for t in texts:
        if t.get_visible() and t.get_text().strip():
            try:
                boxes.append((t.get_text().strip(), t.get_window_extent(renderer)))
            except RuntimeError:   # a text with no renderer position
                continue
    found = []
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            dx = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            dy = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            if dx > pad and dy > pad:
                found.append((a, b))
    return found
