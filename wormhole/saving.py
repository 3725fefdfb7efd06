"""Save a trained learner to a file and load it back: :func:`save` and :func:`load`.

>>> import wormhole as wh
>>> learner = wh.Wormhole(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4)
>>> wh.save(learner, "wormhole.pt")          # after wh.meta_train(learner, ...)
>>> learner = wh.load("wormhole.pt")         # the same method, settings, model and meta-parameters

The file holds the learner's ``state_dict`` (its meta-parameters and buffers), the constructor
arguments the learner records (:meth:`~wormhole.MetaLearner.describe`), the model's class and
constructor arguments, the dtype, and the format's and the package's versions: tensors, dicts,
lists, strings and numbers only, so ``torch.load(path, weights_only=True)`` reads it and loading
runs no code from the file. :func:`load` rebuilds the learner as
:func:`wormhole.tuning.carry_over` does (the same class with the same arguments around a new
model) and loads the meta-parameters into it.

What can be saved: the learners ``wormhole`` exports, around the models of :mod:`wormhole.models`,
with a built-in loss (``"bce"``, ``"mse"``, ``"ce"`` or a function of :mod:`wormhole.losses`).
Anything else (a model or loss of your own, a subclass) is refused at save time with a
``ValueError``; save ``learner.state_dict()`` with ``torch.save`` and rebuild the learner yourself.

This is for a trained learner; ``meta_train(checkpoint=...)`` is for resuming training (it also
keeps the optimiser's state and the random generators).
"""

from __future__ import annotations

import copy
import os
import re
import sys

import torch
from torch import Tensor, nn

from . import learners, losses, models
from .checkpoints import atomic_write

#: the ``format`` entry of every file :func:`save` writes
FORMAT = "wormhole-learner"
#: the version of the file layout; :func:`load` reads this version and refuses newer ones
FORMAT_VERSION = 1
FIELDS = {"format", "format_version", "package_version", "method", "arguments", "model", "dtype", "state_dict"}
_CALLABLE = "callable"  # how a function of wormhole.losses is stored: {"callable": "wormhole.losses.<name>"}


# ------------------------------------------------------------------ models
def _model_arguments(model: nn.Module) -> dict:
    """The constructor arguments that rebuild ``model`` (one of :mod:`wormhole.models`), read
    from the model itself; ``ValueError`` for any other model."""
    kind = type(model)
    if kind is models.Logistic:
        return {}
    if kind is models.MLP:
        return {"in_features": model.in_features, "hidden": [layer.out_features for layer in model.layers[:-1]],
                "out_features": model.out_features}
    if kind is models.ConvNet:
        return {"out_features": model.out_features, "hidden": model.convs[0].out_channels,
                "in_channels": model.convs[0].in_channels, "norm": model.norm}
    if kind is models.Point:
        return {"dim": int(model.theta.shape[0])}
    builtin = ", ".join(_MODELS)
    raise ValueError(f"wormhole.save rebuilds only the models of wormhole.models ({builtin}); the learner's model is "
                     f"{kind.__module__}.{kind.__qualname__}. Save learner.state_dict() with torch.save instead and "
                     "rebuild the learner around your model before loading it.")


_MODELS = {"Logistic": models.Logistic, "MLP": models.MLP, "ConvNet": models.ConvNet, "Point": models.Point}
_LEARNERS = {name: getattr(learners, name) for name in learners.__all__}


# ------------------------------------------------------------------ plain values
def _plain(value, name: str):
    """A constructor argument as what ``weights_only`` loading accepts (tuples become lists; a function
    of wormhole.losses becomes its name); ``ValueError`` for anything else."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, (list, tuple)):
        return [_plain(v, name) for v in value]
    if callable(value) and getattr(losses, getattr(value, "__name__", ""), None) is value:
        return {_CALLABLE: f"wormhole.losses.{value.__name__}"}
    raise ValueError(f"wormhole.save cannot store the learner's argument {name}={value!r}: only numbers, strings, "
                     "tensors, lists and the functions of wormhole.losses can be stored")


def _python(value):
    """The inverse of :func:`_plain` for a stored argument."""
    if isinstance(value, dict) and set(value) == {_CALLABLE}:
        module, _, fn = str(value[_CALLABLE]).rpartition(".")
        if module != "wormhole.losses" or not callable(getattr(losses, fn, None)):
            raise ValueError(f"unknown stored function {value[_CALLABLE]!r}")
        return getattr(losses, fn)
    if isinstance(value, list):
        return [_python(v) for v in value]
    return value


# ------------------------------------------------------------------ rebuilding
def _construct(cls, model: nn.Module, arguments: dict):
    """``cls(model, **arguments)`` without the arguments a class sets itself: those it fixes
    (``fixed_arguments``, as :func:`wormhole.tuning.carry_over` skips them) and those it passes
    to its base class explicitly (ES-MAML's ``first_order=True``), which a recorded value would repeat."""
    fixed = getattr(cls, "fixed_arguments", ())
    kwargs = {k: v for k, v in arguments.items() if k != "model" and k not in fixed}
    while True:
        try:
            return cls(model, **kwargs)
        except TypeError as err:
            repeated = re.search(r"got multiple values for keyword argument '(\w+)'", str(err))
            if not repeated or repeated.group(1) not in kwargs:
                raise
            kwargs.pop(repeated.group(1))


def _rebuild(record: dict) -> nn.Module:
    """A new learner from a file's record (everything but the state), its meta-parameters freshly initialised."""
    method, model = record["method"], record["model"]
    if method not in _LEARNERS:
        raise ValueError(f"unknown learner {method!r} (wormhole exports {', '.join(_LEARNERS)})")
    if not isinstance(model, dict) or model.get("class") not in _MODELS:
        raise ValueError(f"unknown model {model!r} (wormhole.models has {', '.join(_MODELS)})")
    net = _MODELS[model["class"]](**{k: _python(v) for k, v in model["arguments"].items()})
    learner = _construct(_LEARNERS[method], net, {k: _python(v) for k, v in record["arguments"].items()})
    dtype = getattr(torch, str(record["dtype"]), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {record['dtype']!r}")
    return learner.to(dtype)


def _same_layout(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)


def _record(learner: nn.Module) -> dict:
    """The file's contents for ``learner`` (``ValueError`` for what :func:`load` could not rebuild)."""
    if not isinstance(learner, learners.MetaLearner):
        raise ValueError(f"wormhole.save saves a meta-learner (wormhole.MetaLearner), got {type(learner).__name__}")
    method = type(learner).__name__
    if _LEARNERS.get(method) is not type(learner):
        raise ValueError(f"wormhole.save rebuilds only the learners wormhole exports ({', '.join(_LEARNERS)}); "
                         f"got {type(learner).__module__}.{type(learner).__qualname__}. Save learner.state_dict() "
                         "with torch.save instead.")
    state = {k: v.detach().cpu().clone() for k, v in learner.state_dict().items()}
    floats = [v.dtype for v in state.values() if v.is_floating_point()]
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": sys.modules[__package__].__version__,  # the package (imported before any of its modules)
        "method": method,
        "arguments": {k: _plain(v, k) for k, v in learner.__dict__.get("_arguments", {}).items() if k != "model"},
        "model": {"class": type(learner.model).__name__, "arguments": _model_arguments(learner.model)},
        "dtype": str(floats[0] if floats else torch.get_default_dtype()).removeprefix("torch."),
        "state_dict": state,
    }
    try:  # what load will do, so that a file that cannot be loaded is never written
        rebuilt = _rebuild(copy.deepcopy({k: v for k, v in record.items() if k != "state_dict"}))
    except (TypeError, ValueError) as err:
        raise ValueError(f"wormhole.save cannot rebuild this {method} from its recorded settings ({err})") from None
    if not _same_layout(rebuilt.state_dict(), state):
        raise ValueError(f"wormhole.save cannot rebuild this {method}: the learner rebuilt from its recorded settings "
                         "has other parameters (was the model or a parameter changed after construction?)")
    return record


# ------------------------------------------------------------------ the two functions
def save(learner: nn.Module, path: str | os.PathLike) -> None:
    """Write ``learner`` (its meta-parameters, settings and model) to ``path``, atomically: a crash
    never leaves a half-written file. ``ValueError`` if :func:`load` could not rebuild it (a model,
    loss or learner class that is not the package's); nothing is written then."""
    record = _record(learner)
    atomic_write(path, lambda tmp: torch.save(record, tmp))


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """The learner saved at ``path`` by :func:`save`, on ``device``: the same class, settings, model
    and meta-parameters, so it adapts, predicts and scores a batch exactly as the saved one did.
    Read with ``torch.load(weights_only=True)``. ``ValueError`` naming ``path`` if the file is not
    one :func:`save` wrote (or was written by a newer format); ``FileNotFoundError`` if it is missing."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"no saved learner at {name!r}")
    try:
        record = torch.load(name, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds on a corrupt or foreign file
        raise ValueError(f"{name!r} is not a learner saved by wormhole.save (torch.load with weights_only=True "
                         f"failed: {err})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{name!r} is not a learner saved by wormhole.save (no format {FORMAT!r})")
    version = record.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{name!r} has format version {version!r}; this wormhole reads version {FORMAT_VERSION} "
                         f"(the file was written by wormhole {record.get('package_version')}: upgrade wormhole-maml)")
    missing = FIELDS - record.keys()
    if missing:
        raise ValueError(f"{name!r} is not a complete saved learner (missing {', '.join(sorted(missing))})")
    try:
        learner = _rebuild(record)
        learner.load_state_dict(record["state_dict"])
    except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as err:
        raise ValueError(f"{name!r} could not be rebuilt into a learner ({type(err).__name__}: {err})") from None
    return learner.to(device)


__all__ = ["FORMAT", "FORMAT_VERSION", "load", "save"]
