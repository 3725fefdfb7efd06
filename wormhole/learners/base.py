"""The functional core every meta-learner shares.

Parameters are plain dicts of tensors. The *meta-parameters* are the learner's
``named_parameters()`` (the model's as ``"model.<name>"``, plus whatever a
method adds, such as Wormhole's ``"wormhole_init"``). The *fast weights* are
the dict the inner loop adapts for one task. A method is defined by four hooks:

* :meth:`MetaLearner.initial_fast`  meta-parameters -> fast weights before adaptation;
* :meth:`MetaLearner.inner_rates`   the step size of each fast weight;
* :meth:`MetaLearner.forward_fast`  the prediction from fast weights;
* :meth:`MetaLearner.adapt_tasks`   the inner loop over a batch of tasks (default: ``vmap`` of one task's loop).

Everything else (meta-loss, per-task reference loop, evaluation along the
inner loop) is written once here in terms of those hooks.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from .. import _checks, losses

Params = dict[str, Tensor]
MODEL_PREFIX = "model."


class MetaLearner(nn.Module):
    """Base class: MAML's inner loop on every parameter of ``model``.

    Args:
        model: any ``nn.Module`` without batch statistics.
        loss: ``"bce"`` (binary logits), ``"mse"``, ``"ce"`` (N-way logits) or a
            callable ``(prediction, target) -> scalar`` for one task.
        inner_lr: the inner-loop step size α (> 0).
        steps: inner-loop gradient steps during meta-training (>= 0).
        first_order: drop second derivatives from the meta-gradient (FOMAML).
    """

    #: under torchrun, sum the meta-gradients of the processes (False: each process is its own agent)
    all_reduce_gradients = True

    def __init__(self, model: nn.Module, loss="mse", inner_lr: float = 0.01, steps: int = 1,
                 first_order: bool = False):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.loss_name, self.loss_fn = losses.resolve(loss)
        self.accuracy_fn = losses.accuracy_fn(self.loss_name)
        self.inner_lr = _checks.positive("inner_lr", inner_lr)
        self.steps = _checks.count("steps", steps, minimum=0)
        self.first_order = bool(first_order)
        self._checked_shapes: set = set()

    # ------------------------------------------------------------------ hooks
    def meta_parameters(self) -> Params:
        """The meta-parameters as a dict (the same tensors as ``self.parameters()``)."""
        return dict(self.named_parameters())

    def model_parameters(self, meta: Params) -> Params:
        """The model's entries of ``meta`` under the model's own names."""
        n = len(MODEL_PREFIX)
        return {k[n:]: v for k, v in meta.items() if k.startswith(MODEL_PREFIX)}

    def initial_fast(self, meta: Params) -> Params:
        """Fast weights at the start of the inner loop: the model's parameters."""
        return self.model_parameters(meta)

    def inner_rates(self, meta: Params) -> dict[str, float | Tensor]:
        """Step size per fast weight (a float, or a tensor that broadcasts to it)."""
        return {k: self.inner_lr for k in self.initial_fast(meta)}

    def forward_fast(self, meta: Params, fast: Params, x: Tensor) -> Tensor:
        """Prediction for one task's inputs ``x (N, ...)`` with fast weights ``fast``."""
        return functional_call(self.model, {**self.model_parameters(meta), **fast}, (x,))

    # ------------------------------------------------------- one task's loop
    def support_loss(self, meta: Params, fast: Params, x: Tensor, y: Tensor) -> Tensor:
        return self.loss_fn(self.forward_fast(meta, fast, x), y)

    def step(self, meta: Params, fast: Params, grads: Params) -> Params:
        """One inner update ``fast - rate * grad``."""
        rates = self.inner_rates(meta)
        if self.first_order:
            grads = {k: g.detach() for k, g in grads.items()}
        return {k: v - rates[k] * grads[k] for k, v in fast.items()}

    def adapt_task(self, meta: Params, x: Tensor, y: Tensor, steps: int) -> Params:
        """Inner loop for one task (``x (K, ...)``, ``y (K, ...)``), written with ``torch.func.grad``."""
        fast = self.initial_fast(meta)
        for _ in range(steps):
            fast = self.step(meta, fast, grad(self.support_loss, argnums=1)(meta, fast, x, y))
        return fast

    def batch_step(self, meta: Params, fast: Params, sx: Tensor, sy: Tensor, depth: int) -> Params:
        """Inner step ``depth`` for a batch of tasks whose fast weights have a leading task dimension.
        Each task steps on its own gradient (TreeMAML overrides this to share gradients)."""
        def one(f, x, y):
            return self.step(meta, f, grad(self.support_loss, argnums=1)(meta, f, x, y))
        return vmap(one)(fast, sx, sy)

    def adapt_tasks(self, meta: Params, sx: Tensor, sy: Tensor, steps: int) -> Params:
        """Inner loop for a batch of tasks: fast weights with a leading task dimension."""
        return vmap(partial(self.adapt_task, steps=steps), in_dims=(None, 0, 0))(meta, sx, sy)

    # ------------------------------------------------------------ batch level
    def _query_metrics(self, meta: Params, fast: Params, qx: Tensor, qy: Tensor) -> tuple[Tensor, Tensor]:
        pred = self.forward_fast(meta, fast, qx)
        acc = self.accuracy_fn(pred, qy) if self.accuracy_fn else pred.new_full((), float("nan"))
        return self.loss_fn(pred, qy), acc

    def task_losses(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor,
                    steps: int | None = None) -> tuple[Tensor, dict]:
        """Query loss of each task after adaptation, vectorised over tasks.

        Shapes: ``sx (T, K, ...)``, ``sy (T, K, ...)``, ``qx (T, Q, ...)``, ``qy (T, Q, ...)``.
        Returns ``losses (T,)`` and extras: ``accuracy (T,)`` (NaN for regression)
        and ``fast``, the adapted fast weights with a leading task dimension.
        """
        steps = self.steps if steps is None else steps
        fast = self.adapt_tasks(meta, sx, sy, steps)
        loss, acc = vmap(self._query_metrics, in_dims=(None, 0, 0, 0))(meta, fast, qx, qy)
        return loss, {"accuracy": acc, "fast": fast}

    def task_losses_loop(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor,
                         steps: int | None = None) -> tuple[Tensor, dict]:
        """Reference implementation of :meth:`task_losses`: a Python loop over tasks with
        ``torch.autograd.grad``. Slow; kept for tests and the benchmark."""
        steps = self.steps if steps is None else steps
        out_loss, out_acc = [], []
        with torch.enable_grad():
            for i in range(sx.shape[0]):
                fast = self.initial_fast(meta)
                fast = {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in fast.items()}
                for _ in range(steps):
                    inner = self.support_loss(meta, fast, sx[i], sy[i])
                    gs = torch.autograd.grad(inner, list(fast.values()), create_graph=not self.first_order,
                                             allow_unused=True)
                    gs = {k: torch.zeros_like(v) if g is None else g for (k, v), g in zip(fast.items(), gs)}
                    fast = self.step(meta, fast, gs)
                loss, acc = self._query_metrics(meta, fast, qx[i], qy[i])
                out_loss.append(loss)
                out_acc.append(acc)
        return torch.stack(out_loss), {"accuracy": torch.stack(out_acc)}

    def losses_along_inner_loop(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor,
                                steps: tuple[int, ...]) -> tuple[Tensor, Tensor]:
        """Query loss and accuracy of each task after each number of inner steps in ``steps``.

        One pass of ``max(steps)`` inner steps, recording on the way. Returns two
        ``(T, len(steps))`` tensors. Used for evaluation, so no meta-gradient is kept.
        """
        meta = {k: v.detach() for k, v in meta.items()}
        fast = {k: v.expand(sx.shape[0], *v.shape) for k, v in self.initial_fast(meta).items()}
        metrics = vmap(self._query_metrics, in_dims=(None, 0, 0, 0))
        record_l, record_a = {}, {}
        for s in range(max(steps) + 1):
            if s in steps:
                record_l[s], record_a[s] = metrics(meta, fast, qx, qy)
            if s < max(steps):
                fast = self.batch_step(meta, fast, sx, sy, s)
        return (torch.stack([record_l[s] for s in steps], 1).detach(),
                torch.stack([record_a[s] for s in steps], 1).detach())

    # ------------------------------------------------- meta-gradients for training
    def objective(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, total_tasks: int):
        """Sum of these tasks' query losses divided by ``total_tasks`` (the global meta-batch, which
        differs from ``T`` when processes share a meta-batch), with aux ``(loss, accuracy, adapted w)``."""
        losses, extras = self.task_losses(meta, sx, sy, qx, qy)
        w = extras.get("fast", {}).get("wormhole", losses.new_zeros(losses.shape[0], 0))
        loss = losses.sum() / total_tasks
        return loss, (loss.detach(), extras["accuracy"].sum().detach() / total_tasks, w.detach())

    def meta_gradients(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, total_tasks: int,
                       noise_seeds=None):
        """Meta-gradients of S stacked copies of the meta-parameters (leading dimension S), each on
        its own tasks (``sx (S, T, ...)``). Returns ``(grads, (loss (S,), accuracy (S,), adapted w))``.

        The default differentiates :meth:`objective` with ``torch.func.grad`` under ``vmap`` over
        the copies. Methods whose inner loop leaves torch (clustering) or whose meta-gradient is
        estimated (evolution strategies) override it; ``noise_seeds`` (one per copy) seed any randomness.
        """
        return vmap(grad(partial(self.objective, total_tasks=total_tasks), has_aux=True))(meta, sx, sy, qx, qy)

    def meta_gradients_autograd(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor,
                                total_tasks: int):
        """:meth:`meta_gradients` with plain autograd, one copy at a time (for inner loops that
        ``torch.func`` cannot trace)."""
        grads, aux = [], []
        for i in range(sx.shape[0]):
            m = {k: v[i].detach().requires_grad_() for k, v in meta.items()}
            loss, a = self.objective(m, sx[i], sy[i], qx[i], qy[i], total_tasks)
            g = torch.autograd.grad(loss, list(m.values()), allow_unused=True)
            grads.append({k: torch.zeros_like(v) if gi is None else gi for (k, v), gi in zip(m.items(), g)})
            aux.append(a)
        stacked = {k: torch.stack([g[k] for g in grads]) for k in meta}
        return stacked, tuple(torch.stack([a[j] for a in aux]) for j in range(3))

    def outer_optimizer(self, meta_lr: float):
        """The optimiser ``meta_train`` uses for this method's meta-parameters (Adam)."""
        from ..training import Adam

        return Adam(meta_lr)

    def post_update(self, meta: Params) -> Params:
        """Applied to the stacked meta-parameters after every optimiser step (identity;
        Dif-MAML combines its agents here)."""
        return meta

    # ------------------------------------------------------------ public API
    def reset_parameters(self, seed: int) -> None:
        """Re-initialise every meta-parameter from ``seed``, leaving the global RNG untouched."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for module in self.model.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
        self.reset_method_parameters()

    def reset_method_parameters(self) -> None:
        """Reset the meta-parameters a method adds beyond the model's (none for MAML)."""

    def check_batch(self, batch, meta: Params | None = None) -> None:
        """Raise ``ValueError`` if the model's output does not fit the tasks' targets."""
        key = (tuple(batch.support_x.shape[2:]), tuple(batch.support_y.shape[2:]), batch.support_y.dtype)
        if key in self._checked_shapes:
            return
        meta = self.meta_parameters() if meta is None else meta
        x, y = batch.support_x[0], batch.support_y[0]
        try:
            with torch.no_grad():
                out = self.forward_fast(meta, self.initial_fast(meta), x.to(_device_of(meta)))
        except RuntimeError as err:
            raise ValueError(f"the model cannot take the tasks' inputs of shape {tuple(x.shape)}: {err}") from None
        if self.loss_name == "ce":
            ok = out.shape[:-1] == y.shape and not y.is_floating_point()
            want = "(N, C) logits for integer labels (N,)"
        elif self.loss_name in ("bce", "mse"):
            ok = out.shape == y.shape
            want = f"predictions of the targets' shape {tuple(y.shape)}"
        else:
            ok = True
        if not ok:
            raise ValueError(f"model output {tuple(out.shape)} does not match the tasks (support_y "
                             f"{tuple(y.shape)}, loss {self.loss_name!r}): expected {want}")
        self._checked_shapes.add(key)

    def meta_loss(self, batch, vectorize: bool = True, steps: int | None = None) -> Tensor:
        """Mean query loss after adaptation over the tasks of ``batch`` (a scalar,
        differentiable w.r.t. ``self.parameters()``). ``vectorize=False`` runs the
        per-task reference loop instead; both give the same numbers."""
        self.check_batch(batch)
        fn = self.task_losses if vectorize else self.task_losses_loop
        return fn(self.meta_parameters(), *batch.tensors(), steps=steps)[0].mean()

    def adapt(self, support_x: Tensor, support_y: Tensor, steps: int | None = None) -> Params:
        """Fast weights after the inner loop on one task (``support_x (K, ...)``)."""
        steps = self.steps if steps is None else _checks.count("steps", steps, minimum=0)
        return self.adapt_task(self.meta_parameters(), support_x, support_y, steps)

    def predict(self, params: Params, x: Tensor) -> Tensor:
        """Prediction on ``x (N, ...)`` with fast weights ``params`` (from :meth:`adapt`)."""
        return self.forward_fast(self.meta_parameters(), params, x)

    def describe(self) -> dict:
        """The hyper-parameters that define this learner (saved with checkpoints and metrics)."""
        return {"method": type(self).__name__, "loss": self.loss_name, "inner_lr": self.inner_lr,
                "steps": self.steps, "first_order": self.first_order,
                "model": type(self.model).__name__}


def _device_of(params: Params) -> torch.device:
    return next(iter(params.values())).device
