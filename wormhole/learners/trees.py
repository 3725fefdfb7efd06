"""Plain-data helpers of the learners: parameter trees (nested dicts of tensors), names, and the
record of the arguments a learner was built with."""

from __future__ import annotations

import functools
import inspect

import torch
from torch import Tensor, nn


def flat_name(name: str) -> str:
    """A dotted parameter name as a key of an ``nn.ParameterDict`` (``"layers.0.weight"`` → ``"layers__0__weight"``)."""
    return name.replace(".", "__")


def tree_map(fn, tree):
    """``fn`` applied to every tensor of nested dicts, tuples and lists."""
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(tree_map(fn, v) for v in tree)
    return fn(tree)


def tree_stack(trees: list):
    """Stack a list of equally shaped trees (nested dicts, tuples, lists of tensors) along a new first dimension."""
    first = trees[0]
    if isinstance(first, dict):
        return {k: tree_stack([t[k] for t in trees]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(tree_stack([t[i] for t in trees]) for i in range(len(first)))
    return torch.stack(trees)


def describe_model(model: nn.Module) -> dict:
    """A model's class, parameter shapes and parameter count (part of every learner's record)."""
    shapes = {n: list(p.shape) for n, p in model.named_parameters()}
    return {"class": type(model).__name__, "parameter_shapes": shapes,
            "n_parameters": sum(p.numel() for p in model.parameters())}


def _plain(value):
    """A constructor argument as plain data for records (tensors as lists, callables by name)."""
    if isinstance(value, Tensor):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    return value


def _recording(init):
    """Wrap ``__init__`` so that every named argument it received is kept in ``self._arguments``."""
    sig = inspect.signature(init)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [n for n, p in list(sig.parameters.items())[1:] if p.kind in kinds and n != "model"]

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        init(self, *args, **kwargs)
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        record = self.__dict__.setdefault("_arguments", {})
        for n in names:  # the innermost __init__ returns first; an outer class's value wins
            record[n] = bound.arguments[n]

    wrapper.records_arguments = True
    return wrapper
