"""Checkpoints of ``meta_train``, and the one atomic file write the package uses."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import Tensor

VERSION = 3
#: the entries of a checkpoint file
FIELDS = {"config", "iteration", "meta", "optimizer", "generators", "histories"}


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``:
    a crash never leaves a half-written file, and nothing is left behind on error."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def to_device(state, device):
    """``state`` (nested dicts of tensors and numbers) with every tensor moved to ``device``."""
    if isinstance(state, dict):
        return {k: to_device(v, device) for k, v in state.items()}
    return state.to(device) if isinstance(state, Tensor) else state


def save(path: str, payload: dict) -> None:
    """Write a checkpoint (``payload`` holds :data:`FIELDS`) atomically."""
    atomic_write(path, lambda tmp: torch.save({"version": VERSION, **payload}, tmp))


def load(path: str, config: dict | None) -> dict:
    """Read the checkpoint at ``path``; refuse it with ``ValueError`` if it is not one of ours or
    if its ``config`` differs from ``config`` in any setting (each differing setting is named;
    ``None``: any config)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
        ok = isinstance(payload, dict) and payload.get("version") == VERSION
    except Exception as err:  # torch raises many kinds on a corrupt file
        raise ValueError(f"checkpoint {path!r} is not a readable wormhole checkpoint ({err}); "
                         "delete it to start afresh") from None
    if not ok or not FIELDS <= payload.keys():
        raise ValueError(f"checkpoint {path!r} is not a wormhole checkpoint of version {VERSION} (wrong version or "
                         "fields); delete it to start afresh")
    diff = {} if config is None else differences(payload["config"], config)
    if diff:
        listed = "; ".join(f"{k}: saved {a!r}, requested {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"checkpoint {path!r} was written by a different run; differing settings: {listed}")
    return payload


_MISSING = "<absent>"


def differences(saved: dict, requested: dict, prefix: str = "") -> dict[str, tuple]:
    """The settings (dotted paths into nested dicts) whose values differ: ``{path: (saved, requested)}``."""
    out = {}
    for k in list(saved) + [k for k in requested if k not in saved]:
        a, b = saved.get(k, _MISSING), requested.get(k, _MISSING)
        name = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(differences(a, b, name + "."))
        elif a != b:
            out[name] = (a, b)
    return out
