"""Small models that are safe to ``vmap`` over tasks (no batch statistics).

Every model takes an optional ``layer_scales`` tensor of shape ``(n_layers,)``
that multiplies each layer's pre-activation output. Wormhole MAML's per-layer
granularity uses it; a custom model that wants that granularity must accept
the same keyword and set ``n_layers``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from . import _checks
from . import functional as fn
from .functional import scale as _scale


class FunctionalModel(nn.Module):
    """Base of the built-in models: a module whose forward may also be written as a pure function.

    Two capabilities, each an attribute decided once, when a class is defined, from what the class
    itself defines (a class that defines none of the three methods inherits its parent's):

    * ``functional``: :meth:`functional_forward` ``(params, x)`` computes what ``forward(x)`` does
      with the parameters ``params`` (the inner loop then calls it directly; else
      ``torch.func.functional_call``). True when the class defines both.
    * ``dense``: :meth:`dense_layers` names the ``(weight, bias)`` of each layer of a dense ReLU
      stack that ``forward`` computes (:mod:`wormhole.backprop` back-propagates it by hand).
      True when the class defines all three.

    So a subclass that redefines ``forward`` alone (or ``functional_forward`` alone) loses both
    fast paths and runs through ``functional_call``, with the same numbers; setting an attribute
    in the class body declares it instead.
    """

    functional: bool = False
    dense: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        defines = {name for name in ("forward", "functional_forward", "dense_layers") if name in cls.__dict__}
        if not defines:
            return
        if "functional" not in cls.__dict__:
            cls.functional = {"forward", "functional_forward"} <= defines
        if "dense" not in cls.__dict__:
            cls.dense = cls.functional and "dense_layers" in defines


class Logistic(FunctionalModel):
    """Logistic regression on a 1-D input: ``x (N, 1) -> logit (N, 1)``, two parameters."""

    n_layers = 1

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x: torch.Tensor, layer_scales: torch.Tensor | None = None) -> torch.Tensor:
        return _scale(self.linear(x), layer_scales, 0)

    def functional_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor,
                           layer_scales: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` with the parameters ``params`` (``linear.weight (1, 1)``, ``linear.bias (1,)``)."""
        return _scale(fn.linear(x, params["linear.weight"], params["linear.bias"]), layer_scales, 0)

    def dense_layers(self) -> list[tuple[str, str]]:
        """The linear layer's ``(weight, bias)`` names, for explicit back-propagation (:mod:`wormhole.backprop`)."""
        return [("linear.weight", "linear.bias")]


class MLP(FunctionalModel):
    """Fully connected ReLU network: ``x (N, in_features) -> (N, out_features)``.

    ``MLP(1, (40, 40), 1)`` is the network of MAML's sinusoid experiment.
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (40, 40), out_features: int = 1):
        super().__init__()
        _checks.count("in_features", in_features)
        _checks.count("out_features", out_features)
        hidden = tuple(hidden)
        for h in hidden:
            _checks.count("hidden", h)
        sizes = (in_features, *hidden, out_features)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.in_features, self.out_features = in_features, out_features
        self.n_layers = len(self.layers)

    def forward(self, x: torch.Tensor, layer_scales: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1) if x.dim() > 2 else x
        for i, layer in enumerate(self.layers):
            x = _scale(layer(x), layer_scales, i)
            if i < self.n_layers - 1:
                x = torch.relu(x)
        return x

    def functional_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor,
                           layer_scales: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` with the parameters ``params`` (``layers.<i>.weight (out, in)``,
        ``layers.<i>.bias (out,)``): ``x (N, in_features) -> (N, out_features)``."""
        x = x.flatten(1) if x.dim() > 2 else x
        for i in range(self.n_layers):
            x = _scale(fn.linear(x, params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]), layer_scales, i)
            if i < self.n_layers - 1:
                x = torch.relu(x)
        return x

    def dense_layers(self) -> list[tuple[str, str]]:
        """Each linear layer's ``(weight, bias)`` names, ReLU between them, for explicit
        back-propagation (:mod:`wormhole.backprop`)."""
        return [(f"layers.{i}.weight", f"layers.{i}.bias") for i in range(self.n_layers)]


class ConvNet(FunctionalModel):
    """The 4-block CNN of few-shot learning for ``(N, 1, 28, 28)`` images -> ``(N, out_features)``.

    Each block is conv 3x3 -> GroupNorm (``norm="group"``) or nothing
    (``norm="none"``) -> ReLU -> max-pool 2. GroupNorm normalises each image on
    its own, so the network behaves identically under ``vmap`` over tasks,
    which batch norm's running statistics would not.
    """

    def __init__(self, out_features: int, hidden: int = 32, in_channels: int = 1, norm: str = "group"):
        super().__init__()
        _checks.count("out_features", out_features)
        _checks.count("hidden", hidden)
        _checks.choice("norm", norm, ("group", "none"))
        chans = (in_channels, hidden, hidden, hidden, hidden)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans[:-1], chans[1:]))
        groups = min(4, hidden) if hidden % min(4, hidden) == 0 else 1
        self.norm, self.groups = norm, groups
        self.norms = nn.ModuleList(
            nn.GroupNorm(groups, hidden) if norm == "group" else nn.Identity() for _ in self.convs
        )
        self.head = nn.Linear(hidden, out_features)
        self.out_features = out_features
        self.n_layers = len(self.convs) + 1

    def forward(self, x: torch.Tensor, layer_scales: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() == 2:  # flat 784-pixel rows
            x = x.view(-1, 1, 28, 28)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = torch.max_pool2d(torch.relu(norm(_scale(conv(x), layer_scales, i))), 2)
        return _scale(self.head(x.flatten(1)), layer_scales, len(self.convs))

    def functional_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor,
                           layer_scales: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` with the parameters ``params`` (``convs.<i>.weight (C_out, C_in, 3, 3)``,
        ``convs.<i>.bias``, ``norms.<i>.weight``/``.bias (C_out,)``, ``head.weight``, ``head.bias``):
        ``x (N, 1, 28, 28)`` or ``(N, 784)`` -> ``(N, out_features)``.

        Each convolution is one matrix product (:func:`wormhole.functional.conv2d`); under ``vmap``
        over tasks with per-task weights that is one batched product rather than a grouped convolution.
        """
        if x.dim() == 2:  # flat 784-pixel rows
            x = x.view(-1, 1, 28, 28)
        for i in range(len(self.convs)):
            x = _scale(fn.conv2d(x, params[f"convs.{i}.weight"], params[f"convs.{i}.bias"], padding=1), layer_scales, i)
            if self.norm == "group":
                x = fn.group_norm(x, self.groups, params[f"norms.{i}.weight"], params[f"norms.{i}.bias"],
                                  self.norms[i].eps)
            x = fn.relu_max_pool2(x)
        return _scale(fn.linear(x.flatten(1), params["head.weight"], params["head.bias"]), layer_scales, len(self.convs))


class Point(FunctionalModel):
    """A model that *is* its parameter vector: ``x (N, ·) -> θ (N, dim)``.

    With the loss :func:`wormhole.losses.half_squared_distance` and targets θ*, a task's
    loss is ½‖θ − θ*‖², the quadratic tasks of the theory chapter.
    """

    n_layers = 1

    def __init__(self, dim: int, init: torch.Tensor | None = None):
        super().__init__()
        _checks.count("dim", dim)
        if init is None:
            init = torch.zeros(dim)
        init = torch.as_tensor(init).clone()
        if init.shape != (dim,):
            raise ValueError(f"init must have shape ({dim},), got {tuple(init.shape)}")
        self.theta = nn.Parameter(init if init.is_floating_point() else init.float())

    def reset_parameters(self):
        """Draw θ from N(0, 0.1²)."""
        nn.init.normal_(self.theta, std=0.1)

    def forward(self, x: torch.Tensor, layer_scales: torch.Tensor | None = None) -> torch.Tensor:
        return _scale(self.theta.expand(x.shape[0], -1), layer_scales, 0)

    def functional_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor,
                           layer_scales: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`forward` with ``params["theta"] (dim,)``: ``x (N, ·) -> (N, dim)``."""
        return _scale(params["theta"].expand(x.shape[0], -1), layer_scales, 0)
