"""Multi-process meta-training with ``torch.distributed`` (gloo on CPU, nccl on GPU), under ``torchrun``.

``wh.meta_train`` notices an initialised process group by itself: every rank draws the same
meta-batch from the same seeded stream, takes its own disjoint share of the tasks, and the
meta-gradients are all-reduced, so the result equals the single-process run::

    torchrun --nproc_per_node 2 my_script.py      # my_script.py calls wh.distributed.init() then wh.meta_train

:class:`~wormhole.learners.difmaml.DifMAMLAgent` turns the ranks into Dif-MAML agents instead:
no gradient is shared; after each local step the agents combine their parameters over a graph.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def active() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank in the process group (0 outside one)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """The number of processes in the process group (1 outside one)."""
    return dist.get_world_size() if active() else 1


def init(backend: str | None = None) -> None:
    """Initialise the process group from torchrun's environment (gloo on CPU, nccl with CUDA)."""
    if active():
        return
    if "RANK" not in os.environ:
        raise ValueError("wh.distributed.init() must run under torchrun (RANK/WORLD_SIZE are not set)")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))


def default_device() -> torch.device:
    """The device ``device="auto"`` means under torchrun: this process's GPU (``LOCAL_RANK``), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) if active() else 0)
    return torch.device("cpu")


def share(n_tasks: int, world: int | None = None, index: int | None = None) -> slice:
    """The slice of a global meta-batch of ``n_tasks`` tasks that process ``index`` (default: this
    rank) of ``world`` (default: the process group's size) trains on."""
    w = world_size() if world is None else world
    i = rank() if index is None else index
    if n_tasks % w:
        raise ValueError(f"meta_batch must be a multiple of the number of processes ({w}); got {n_tasks}")
    per = n_tasks // w
    return slice(i * per, (i + 1) * per)


def all_reduce_sum(tensors: dict) -> dict:
    """Sum each tensor over the ranks (in place on a copy); identity outside a process group."""
    if not active():
        return tensors
    out = {}
    for k, v in tensors.items():
        v = v.clone()
        dist.all_reduce(v, op=dist.ReduceOp.SUM)
        out[k] = v
    return out


def all_gather_cat(tensor: torch.Tensor, dim: int) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank along ``dim`` (rank order)."""
    if not active():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim)


def all_gather_stack(tensor: torch.Tensor) -> torch.Tensor:
    """Stack ``tensor`` from every rank along a new leading dimension (rank order)."""
    if not active():
        return tensor.unsqueeze(0)
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.stack(parts)
