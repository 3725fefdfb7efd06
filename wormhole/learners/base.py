"""The functional core every meta-learner shares.

Parameters are plain dicts of tensors. The *meta-parameters* are the learner's
``named_parameters()`` (the model's as ``"model.<name>"``, plus whatever a method adds).
The *fast weights* are the dict the inner loop adapts for one task. The inner loop,
the meta-loss, the per-task reference loop and evaluation along the inner loop are
written once here; a method changes them only through the hooks listed in
:class:`MetaLearner`.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn
from torch.func import grad, vmap

from .. import _checks, backprop, losses
from ..functional import forward as model_forward
from ..optim import Adam
from .trees import _plain, _recording, describe_model, tree_map, tree_stack

Params = dict[str, Tensor]
MODEL_PREFIX = "model."
#: prefix of the per-copy hyper-parameter entries a sweep adds to the stacked meta-parameters (never trained)
HYPER_PREFIX = "hyper."


#: ``capability: (hooks its fast path assumes unchanged, the hook that provides it or None)``:
#: a learner class that redefines one of the assumed hooks (itself or through a mixin) has the
#: capability switched off when it is defined, unless it also defines the providing hook (which
#: switches it on) or sets the capability in its class body
CAPABILITIES = {
    "explicit_backprop": (("forward_fast", "support_gradient", "support_loss"), "explicit_forward"),
    "elementwise_step": (("step",), None),
    "traceable_meta_gradients": (("meta_gradients",), None),
}


class MetaLearner(nn.Module):
    """Base class: MAML's inner loop on every parameter of ``model``.

    Args:
        model: any ``nn.Module`` without batch statistics.
        loss: ``"bce"`` (binary logits), ``"mse"``, ``"ce"`` (N-way logits) or a
            callable ``(prediction, target) -> scalar`` for one task.
        inner_lr: the inner-loop step size α (> 0).
        steps: inner-loop gradient steps during meta-training (>= 0).
        first_order: drop second derivatives from the meta-gradient (FOMAML).

    Every method subclass takes these as keyword arguments (``**kwargs``) after its own.
    Every constructor argument of every class in the chain is recorded automatically and
    returned by :meth:`describe` with the model's sizes.

    **Hooks.** A method overrides only what it changes; everything else (the inner loop,
    the meta-loss, the per-task reference loop, evaluation, training) calls these:

    ================================= =======================================================
    hook                              what it decides
    ================================= =======================================================
    :meth:`initial_fast`              the fast weights a task starts from
    :meth:`inner_rates`               the inner step size of each fast weight
    :meth:`forward_fast`              the prediction from fast weights
    :meth:`support_gradient`          the inner loop's gradient for one task
    :meth:`step`                      one task's inner update from that gradient
    :meth:`explicit_forward`          a batch of tasks' predictions and hand-written back-propagation,
                                      where the model and loss allow it (else ``torch.func``)
    :meth:`share_gradients`           how the tasks of a batch combine their inner gradients
    :meth:`adapted_quantities`        method-specific adapted values worth reporting, per task
    :meth:`adapted_statistics`        their summary, logged by training and by diagnostics
    :meth:`meta_parameters`           which tensors are meta-parameters
    :meth:`model_parameters`          where the model's parameters sit among them
    :meth:`consensus`                 the meta-parameters a new task adapts from
    :meth:`task_losses`               how a meta-batch is split before adaptation
    :meth:`meta_gradients`            the meta-gradient estimator used by training
    :meth:`outer_optimizer`           the outer optimiser (Adam)
    :meth:`post_update`               a step applied after each outer update
    :meth:`reset_method_parameters`   re-initialising the meta-parameters a method adds
    ================================= =======================================================

    Which built-in method overrides which hook:

    ========================= ===============================================================
    method                    hooks it overrides
    ========================= ===============================================================
    MAML                      none
    Wormhole                  initial_fast, inner_rates, forward_fast, explicit_forward,
                              adapted_quantities, adapted_statistics, reset_method_parameters
    ANIL (mixin HeadOnly)     initial_fast
    Meta-SGD (LearnedRates)   inner_rates, reset_method_parameters
    Alpha MAML                inner_rates, outer_optimizer, reset_method_parameters
    ES-MAML                   support_gradient (``inner="es"``), meta_gradients
    TreeMAML                  share_gradients, meta_gradients (plain autograd)
    Dif-MAML                  meta_parameters, model_parameters, consensus, task_losses,
                              post_update, reset_method_parameters
    Dif-MAML agent            post_update
    LearnedScale (ablation)   none beyond Wormhole's (its α_w is fixed at 0)
    LearnedStep (ablation)    inner_rates, reset_method_parameters
    ========================= ===============================================================

    ``WormholeANIL`` and ``WormholeMetaSGD`` combine the mixins with :class:`~wormhole.Wormhole`.

    **Capabilities.** Three fast paths (:attr:`explicit_backprop`, :attr:`elementwise_step`,
    :attr:`traceable_meta_gradients`) are class attributes decided once, when a class is defined,
    by the rule in ``wormhole.learners.base.CAPABILITIES``: redefining a hook a fast path assumes
    switches it off (the general path gives the same numbers), and a class may declare it in its
    body instead.

    **Sweepable numbers.** :attr:`sweepable` names the constructor arguments (numbers) in which
    the configurations of one :func:`~wormhole.meta_train_sweep` may differ. The inner loop reads
    such a value through :meth:`hyper`, which returns the sweep's per-copy tensor when there is
    one and the attribute otherwise; a value that only sets an initial meta-parameter (w₀, a
    learned rate's start) needs nothing more, since each copy starts from its own configuration.
    """

    #: whether meta_train sums the meta-gradients of the processes under torchrun (False makes each process its own agent)
    all_reduce_gradients = True
    #: constructor arguments that the configurations of one sweep may differ in (see :meth:`hyper`)
    sweepable: tuple[str, ...] = ("inner_lr",)
    #: **Capabilities**: fast paths a class may use, each an attribute decided once, when the class
    #: is defined (see ``CAPABILITIES``). A class that redefines a hook a fast path assumes
    #: loses that path (the general ``torch.func`` path gives the same numbers) unless it provides
    #: the fast path's own hook or sets the attribute in its body; ``learner.explicit_backprop =
    #: False`` switches one instance to the general path.
    #:
    #: inner gradients by hand-written back-propagation (:meth:`explicit_forward`), where the model allows
    explicit_backprop: bool = True
    #: :meth:`step` is elementwise, so it broadcasts over a leading task dimension without ``vmap``
    elementwise_step: bool = True
    #: :meth:`meta_gradients` is the default one, traceable by ``torch.func`` (diagnostics ``vmap`` it over copies)
    traceable_meta_gradients: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for klass in cls.__mro__:  # the subclass and its mixins: record their arguments too
            if klass is MetaLearner:
                break
            init = klass.__dict__.get("__init__")
            if init is not None and not getattr(init, "records_arguments", False):
                klass.__init__ = _recording(init)
        # what this class itself (with its mixins, which are not learners) defines
        own = set().union(*(k.__dict__ for k in cls.__mro__[:cls.__mro__.index(MetaLearner)]
                            if k is cls or not issubclass(k, MetaLearner)))
        for capability, (assumes, provider) in CAPABILITIES.items():
            if capability in cls.__dict__:
                continue  # declared in the class body
            if provider is not None and provider in own:
                setattr(cls, capability, True)
            elif own & set(assumes):
                setattr(cls, capability, False)

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

    def network_keys(self, meta: Params) -> list[str]:
        """The keys of ``meta`` that hold the network's parameters θ: the coordinates every method
        shares (what :func:`wormhole.diagnostics.gradient_conflict` measures), as opposed to what a
        method adds (w₀, learned rates)."""
        return [k for k in meta if k.startswith(MODEL_PREFIX)]

    def model_parameters(self, meta: Params) -> Params:
        """The model's entries of ``meta`` under the model's own names."""
        n = len(MODEL_PREFIX)
        return {k[n:]: v for k, v in meta.items() if k.startswith(MODEL_PREFIX)}

    def consensus(self, meta: Params) -> Params:
        """The meta-parameters a new task adapts from (``adapt``, ``predict``, evaluation): ``meta`` itself."""
        return meta

    def initial_fast(self, meta: Params) -> Params:
        """Fast weights at the start of the inner loop: the model's parameters."""
        return self.model_parameters(meta)

    def inner_rates(self, meta: Params) -> dict[str, float | Tensor]:
        """Step size per fast weight (a float, or a tensor that broadcasts to it)."""
        rate = self.hyper(meta, "inner_lr")
        return {k: rate for k in self.initial_fast(meta)}

    def hyper(self, meta: Params, name: str) -> float | Tensor:
        """The value of the sweepable hyper-parameter ``name`` for this copy of the meta-parameters:
        the per-copy entry ``meta["hyper.<name>"]`` a sweep adds, else the attribute ``self.<name>``."""
        return meta.get(HYPER_PREFIX + name, getattr(self, name))

    def forward_fast(self, meta: Params, fast: Params, x: Tensor) -> Tensor:
        """Prediction for one task's inputs ``x (N, ...)`` with fast weights ``fast``: the model's pure
        forward (:func:`wormhole.functional.forward`; ``functional_call`` for models without one)."""
        return model_forward(self.model, {**self.model_parameters(meta), **fast}, x)

    def support_gradient(self, meta: Params, fast: Params, x: Tensor, y: Tensor) -> Params:
        """The gradient the inner loop steps along, for one task: the exact gradient of the
        support loss (``torch.func.grad``). Every path of the inner loop (per task, vectorised,
        reference loop) calls this, so overriding it changes them all alike."""
        return grad(self.support_loss, argnums=1)(meta, fast, x, y)

    def explicit_forward(self, meta: Params, fast: Params, x: Tensor):
        """Predictions for a batch of tasks written out by hand (:mod:`wormhole.backprop`): ``x (T, N, ...)``,
        ``fast`` shared by the tasks or with a leading task dimension. Returns ``(prediction (T, N, out),
        backward)``, where ``backward(d loss / d prediction)`` gives every fast weight's gradient with a
        leading task dimension; ``None`` where this does not apply (see :meth:`explicit_backprop_layers`)."""
        layers = self.explicit_backprop_layers(fast)
        if layers is None:
            return None
        params = {**self.model_parameters(meta), **fast}
        pred, cache = backprop.dense_forward(layers, params, x)
        return pred, lambda g: backprop.dense_backward(layers, params, cache, g, set(fast))

    def explicit_support_gradients(self, meta: Params, fast: Params, x: Tensor, y: Tensor) -> Params | None:
        """The inner gradients of a batch of tasks (``x (T, K, ...)``, ``y (T, K, ...)``) through
        :meth:`explicit_forward`, each with a leading task dimension, or ``None`` where it does not apply.
        Equal to ``vmap`` of :meth:`support_gradient` over tasks, with fewer operations for the
        meta-gradient to differentiate again."""
        explicit = self.explicit_forward(meta, fast, x)
        if explicit is None:
            return None
        pred, backward = explicit
        grads = backward(losses.task_output_gradients(self.loss_name, pred, y))
        return {k: grads[k] for k in fast}

    def explicit_backprop_layers(self, fast: Params) -> list[tuple[str, str]] | None:
        """The model's dense layers when :meth:`explicit_support_gradients` computes what
        :meth:`support_gradient` would: the learner has the :attr:`explicit_backprop` capability,
        the loss is a built-in one, the model is a dense ReLU stack
        (:func:`wormhole.backprop.dense_layers`) and every fast weight ``fast`` names is one of its
        parameters (beyond those the caller handles itself). Else ``None``."""
        if not self.explicit_backprop or self.loss_fn is not losses.LOSSES.get(self.loss_name):
            return None
        layers = backprop.dense_layers(self.model)
        if layers is None or not set(fast) <= {name for pair in layers for name in pair}:
            return None
        return layers

    def support_gradients(self, meta: Params, fast: Params, x: Tensor, y: Tensor, shared: bool = False) -> Params:
        """The inner gradients of a batch of tasks, each with a leading task dimension:
        :meth:`explicit_support_gradients` where it applies, else :meth:`support_gradient` under
        ``vmap`` over tasks (``shared=True``: ``fast`` has no task dimension, every task starts from it)."""
        grads = self.explicit_support_gradients(meta, fast, x, y)
        if grads is None:
            grads = vmap(self.support_gradient, in_dims=(None, None if shared else 0, 0, 0))(meta, fast, x, y)
        return grads

    def share_gradients(self, grads: Params, depth: int) -> Params:
        """Combine the inner gradients of a batch of tasks (leading task dimension) at inner step
        ``depth``: each task keeps its own (TreeMAML averages within clusters)."""
        return grads

    def adapted_quantities(self, meta: Params, fast: Params) -> dict[str, Tensor]:
        """Method-specific quantities of the adapted fast weights ``fast`` (leading task dimension),
        each with a leading task dimension, e.g. Wormhole's adapted multiplier. None by default."""
        return {}

    def adapted_statistics(self, meta: Params, quantities: dict[str, Tensor], sign: Tensor | None) -> dict[str, float]:
        """Summary numbers of :meth:`adapted_quantities` for one copy of ``meta`` (``sign (T,)``: each
        task's side of the family). ``meta_train`` logs them in ``History.logged``; diagnostics report them."""
        return {}

    # ------------------------------------------------------------- the inner loop
    def support_loss(self, meta: Params, fast: Params, x: Tensor, y: Tensor) -> Tensor:
        """The loss of one task's examples ``x``, ``y`` under fast weights ``fast``."""
        return self.loss_fn(self.forward_fast(meta, fast, x), y)

    def step(self, meta: Params, fast: Params, grads: Params) -> Params:
        """One inner update ``fast - rate * grad`` of one task."""
        rates = self.inner_rates(meta)
        if self.first_order:
            grads = {k: g.detach() for k, g in grads.items()}
        # a plain-number rate folds into one fused op (one pass over the weights, forward and backward)
        return {k: torch.add(v, grads[k], alpha=-rates[k]) if isinstance(rates[k], (int, float)) else v - rates[k] * grads[k]
                for k, v in fast.items()}

    def initial_fast_batch(self, meta: Params, n_tasks: int) -> Params:
        """:meth:`initial_fast` repeated for ``n_tasks`` tasks (leading task dimension)."""
        return {k: v.expand(n_tasks, *v.shape) for k, v in self.initial_fast(meta).items()}

    def inner_step(self, meta: Params, fast: Params, sx: Tensor, sy: Tensor, depth: int) -> Params:
        """Inner step ``depth`` for a batch of tasks (fast weights with a leading task dimension), vectorised."""
        grads = self.share_gradients(self.support_gradients(meta, fast, sx, sy), depth)
        return self.step_tasks(meta, fast, grads)

    def step_tasks(self, meta: Params, fast: Params, grads: Params, shared: bool = False) -> Params:
        """:meth:`step` for a batch of tasks (``grads`` with a leading task dimension; ``fast`` too
        unless ``shared``). The base class's step is elementwise, so it broadcasts over the tasks
        as it stands (the :attr:`elementwise_step` capability); another step runs under ``vmap``."""
        if self.elementwise_step:
            return self.step(meta, fast, grads)
        return vmap(self.step, in_dims=(None, None if shared else 0, 0))(meta, fast, grads)

    def adapt_tasks(self, meta: Params, sx: Tensor, sy: Tensor, steps: int) -> Params:
        """Inner loop for a batch of tasks, vectorised: fast weights with a leading task dimension.
        The first step starts every task from the same fast weights, so they enter it unbatched
        (one matrix product over all tasks' examples instead of one per task)."""
        if steps == 0:
            return self.initial_fast_batch(meta, sx.shape[0])
        start = self.initial_fast(meta)
        grads = self.share_gradients(self.support_gradients(meta, start, sx, sy, shared=True), 0)
        fast = self.step_tasks(meta, start, grads, shared=True)
        for depth in range(1, steps):
            fast = self.inner_step(meta, fast, sx, sy, depth)
        return fast

    def adapt_tasks_loop(self, meta: Params, sx: Tensor, sy: Tensor, steps: int) -> list[Params]:
        """Reference for :meth:`adapt_tasks`: a Python loop over tasks, one list entry per task."""
        fasts = [self.initial_fast(meta) for _ in range(sx.shape[0])]
        for depth in range(steps):
            grads = tree_stack([self.support_gradient(meta, f, sx[i], sy[i]) for i, f in enumerate(fasts)])
            grads = self.share_gradients(grads, depth)
            fasts = [self.step(meta, f, {k: g[i] for k, g in grads.items()}) for i, f in enumerate(fasts)]
        return fasts

    def adapt_task(self, meta: Params, x: Tensor, y: Tensor, steps: int) -> Params:
        """Inner loop for one task (``x (K, ...)``, ``y (K, ...)``): the batch loop on a batch of one."""
        return {k: v[0] for k, v in self.adapt_tasks(meta, x[None], y[None], steps).items()}

    # ------------------------------------------------------------ batch level
    def _query_metrics(self, meta: Params, fast: Params, qx: Tensor, qy: Tensor) -> tuple[Tensor, Tensor]:
        pred = self.forward_fast(meta, fast, qx)
        acc = self.accuracy_fn(pred, qy) if self.accuracy_fn else pred.new_full((), float("nan"))
        return self.loss_fn(pred, qy), acc

    def _query_metrics_tasks(self, meta: Params, fast: Params, qx: Tensor, qy: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`_query_metrics` of a batch of tasks (``(T,)`` each), through :meth:`explicit_forward`
        and the built-in loss's batched form where they apply."""
        explicit = self.explicit_forward(meta, fast, qx)
        if explicit is None:
            return vmap(self._query_metrics, in_dims=(None, 0, 0, 0))(meta, fast, qx, qy)
        pred = explicit[0]  # explicit_forward applies only with a built-in loss
        return losses.task_losses(self.loss_name, pred, qy), losses.task_accuracies(self.loss_name, pred, qy)

    def task_losses(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, *,
                    steps: int | None = None, vectorize: bool = True) -> tuple[Tensor, dict]:
        """Query loss of each task after adaptation.

        Shapes: ``sx (T, K, ...)``, ``sy (T, K, ...)``, ``qx (T, Q, ...)``, ``qy (T, Q, ...)``.
        ``vectorize=True`` runs the inner loop with ``vmap`` over tasks; ``vectorize=False`` runs the
        reference loop over tasks (slow; for tests and the benchmark). Both give the same numbers.
        Returns ``losses (T,)`` and extras: ``accuracy (T,)`` (NaN for regression), ``fast``, the
        adapted fast weights, and ``adapted``, the :meth:`~wormhole.MetaLearner.adapted_quantities` (leading task dimension).
        """
        steps = self.steps if steps is None else steps
        if vectorize:
            fast = self.adapt_tasks(meta, sx, sy, steps)
            loss, acc = self._query_metrics_tasks(meta, fast, qx, qy)
        else:
            fasts = self.adapt_tasks_loop(meta, sx, sy, steps)
            loss, acc = tree_stack([self._query_metrics(meta, f, qx[i], qy[i]) for i, f in enumerate(fasts)])
            fast = tree_stack(fasts)
        return loss, {"accuracy": acc, "fast": fast, "adapted": self.adapted_quantities(meta, fast)}

    def task_losses_loop(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, *,
                         steps: int | None = None) -> tuple[Tensor, dict]:
        """The reference loop: :meth:`task_losses` with ``vectorize=False``."""
        return self.task_losses(meta, sx, sy, qx, qy, steps=steps, vectorize=False)

    def losses_along_inner_loop(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, *,
                                steps: tuple[int, ...]) -> tuple[Tensor, Tensor]:
        """Query loss and accuracy of each task after each number of inner steps in ``steps``.

        One pass of ``max(steps)`` inner steps, recording on the way. Returns two
        ``(T, len(steps))`` tensors. Used for evaluation, so no meta-gradient is kept.
        """
        meta = {k: v.detach() for k, v in self.consensus(meta).items()}
        fast = self.initial_fast_batch(meta, sx.shape[0])
        record_l, record_a = {}, {}
        for s in range(max(steps) + 1):
            if s in steps:
                record_l[s], record_a[s] = self._query_metrics_tasks(meta, fast, qx, qy)
            if s < max(steps):
                fast = self.inner_step(meta, fast, sx, sy, s)
        return (torch.stack([record_l[s] for s in steps], 1).detach(),
                torch.stack([record_a[s] for s in steps], 1).detach())

    # ------------------------------------------------- meta-gradients for training
    def objective(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, *, total_tasks: int):
        """Sum of these tasks' query losses divided by ``total_tasks`` (the global meta-batch, which
        differs from ``T`` when processes share a meta-batch), with aux ``(loss, accuracy, adapted)``:
        ``adapted`` holds the :meth:`adapted_quantities`."""
        losses, extras = self.task_losses(meta, sx, sy, qx, qy)
        loss = losses.sum() / total_tasks
        adapted = tree_map(Tensor.detach, extras["adapted"])
        return loss, (loss.detach(), extras["accuracy"].sum().detach() / total_tasks, adapted)

    def meta_gradients(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, *, total_tasks: int,
                       noise_seeds=None):
        """Meta-gradients of S stacked copies of the meta-parameters (leading dimension S), each on
        its own tasks (``sx (S, T, ...)``). Returns ``(grads, (loss (S,), accuracy (S,), adapted))``.

        The default differentiates :meth:`objective` with ``torch.func.grad`` under ``vmap`` over
        the copies. Methods whose inner loop leaves torch (clustering) or whose meta-gradient is
        estimated (evolution strategies) override it; ``noise_seeds`` (one per copy) seed any randomness.
        """
        return vmap(grad(partial(self.objective, total_tasks=total_tasks), has_aux=True))(meta, sx, sy, qx, qy)

    def meta_gradients_per_copy(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, *, gradient):
        """:meth:`meta_gradients` one copy at a time: ``gradient(i, meta_i, sx_i, sy_i, qx_i, qy_i)`` returns
        ``(grads, aux)`` of copy ``i``; the results are stacked over copies."""
        outs = [gradient(i, {k: v[i].detach() for k, v in meta.items()}, sx[i], sy[i], qx[i], qy[i])
                for i in range(sx.shape[0])]
        return tree_stack([o[0] for o in outs]), tree_stack([o[1] for o in outs])

    def meta_gradients_autograd(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, *,
                                total_tasks: int):
        """:meth:`meta_gradients` with plain autograd, one copy at a time (for inner loops that
        ``torch.func`` cannot trace)."""
        def gradient(i, m, *tensors):
            m = {k: v.requires_grad_() for k, v in m.items()}
            loss, aux = self.objective(m, *tensors, total_tasks=total_tasks)
            g = torch.autograd.grad(loss, list(m.values()), allow_unused=True)
            return {k: torch.zeros_like(v) if gi is None else gi for (k, v), gi in zip(m.items(), g)}, aux

        return self.meta_gradients_per_copy(meta, sx, sy, qx, qy, gradient=gradient)

    def outer_optimizer(self, meta_lr: float):
        """The optimiser ``meta_train`` uses for this method's meta-parameters (:class:`wormhole.optim.Adam`)."""
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

    def check_batch(self, batch) -> None:
        """Raise ``ValueError`` if the model's output does not fit the tasks' targets."""
        key = (tuple(batch.support_x.shape[2:]), tuple(batch.support_y.shape[2:]), batch.support_y.dtype)
        if key in self._checked_shapes:
            return
        meta = self.consensus(self.meta_parameters())
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
        return self.task_losses(self.meta_parameters(), *batch.tensors(), steps=steps, vectorize=vectorize)[0].mean()

    def adapt(self, support_x: Tensor, support_y: Tensor, steps: int | None = None) -> Params:
        """Fast weights after the inner loop on one task (``support_x (K, ...)``)."""
        steps = self.steps if steps is None else _checks.count("steps", steps, minimum=0)
        return self.adapt_task(self.consensus(self.meta_parameters()), support_x, support_y, steps)

    def predict(self, params: Params, x: Tensor) -> Tensor:
        """Prediction on ``x (N, ...)`` with fast weights ``params`` (from :meth:`adapt`)."""
        return self.forward_fast(self.consensus(self.meta_parameters()), params, x)

    def describe(self) -> dict:
        """What defines this learner, saved with checkpoints and metrics: the method, every
        constructor argument (recorded automatically) and the model's class and sizes."""
        args = {k: _plain(v) for k, v in self.__dict__.get("_arguments", {}).items()}
        args["loss"] = self.loss_name
        return {"method": type(self).__name__, **args, "model": describe_model(self.model)}


MetaLearner.__init__ = _recording(MetaLearner.__init__)


def _device_of(params: Params) -> torch.device:
    return next(iter(params.values())).device
