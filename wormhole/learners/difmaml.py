"""Dif-MAML (Kayaalp, Vlaski & Sayed 2022): decentralised MAML by diffusion over a graph of agents.

K agents each hold a copy of the meta-parameters and a share of every meta-batch. Each
iteration every agent takes a local meta-step on its own tasks (adapt), then replaces its
parameters by a weighted average of its neighbours' (combine): ``θ_k ← Σ_l A[l, k] θ_l``
with a doubly stochastic combination matrix ``A``.

:class:`DifMAML` simulates the agents in one process (vectorised over agents, for notebooks);
:class:`DifMAMLAgent` runs them as separate processes under ``torchrun``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import vmap

from .. import _checks, distributed
from .base import MetaLearner, Params
from .trees import flat_name, tree_map, tree_stack

GRAPHS = ("ring", "full")
AGENT_PREFIX = "agents."


def combination_matrix(graph, agents: int) -> Tensor:
    """The combination matrix of ``graph`` (``"ring"``, ``"full"`` or a ``(K, K)`` matrix).

    A ring averages each agent with its two neighbours (weights 1/3; 1/2 for two agents);
    ``"full"`` averages everyone. A given matrix must be non-negative and doubly stochastic.
    """
    _checks.count("agents", agents, minimum=1)
    if isinstance(graph, str):
        _checks.choice("graph", graph, GRAPHS)
        if graph == "full" or agents <= 2:
            return torch.full((agents, agents), 1.0 / agents)
        a = torch.zeros(agents, agents)
        for k in range(agents):
            for j in (k - 1, k, k + 1):
                a[j % agents, k] = 1 / 3
        return a
    a = torch.as_tensor(graph, dtype=torch.float32)
    if a.shape != (agents, agents):
        raise ValueError(f"graph must be a ({agents}, {agents}) combination matrix, got shape {tuple(a.shape)}")
    if (a < 0).any() or not torch.allclose(a.sum(0), torch.ones(agents), atol=1e-6) \
            or not torch.allclose(a.sum(1), torch.ones(agents), atol=1e-6):
        raise ValueError("graph must be a non-negative doubly stochastic matrix (rows and columns summing to 1)")
    return a


class DifMAML(MetaLearner):
    """MAML on K simulated agents that combine their parameters over a graph after every step.

    Args:
        model: the network each agent holds a copy of.
        agents: the number of agents K.
        graph: ``"ring"``, ``"full"`` or a ``(K, K)`` doubly stochastic combination matrix.
        **kwargs: as for :class:`~wormhole.learners.base.MetaLearner`.

    Meta-parameters: ``agents.<parameter>`` with a leading agent dimension ``K``. The
    meta-batch is split into K equal shares, one per agent. Adaptation and evaluation use the
    agents' average (the consensus).

    Example::

        >>> import wormhole as wh
        >>> learner = wh.DifMAML(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4, agents=4, graph="ring")
        >>> learner.agents["layers__0__weight"].shape       # one copy of θ per agent
        torch.Size([4, 40, 1])
        >>> tasks = wh.tasks.Threshold(shots=5, queries=20, flip=True)
        >>> history = wh.meta_train(learner, tasks, iterations=5, meta_batch=8, seed=0, progress=False)
        >>> learner.spread() > 0          # the agents differ, and are pulled together each step
        True

    References:
        1. Kayaalp, M., Vlaski, S. & Sayed, A. H. (2022). "Dif-MAML: Decentralized Multi-Agent
           Meta-Learning." IEEE Open Journal of Signal Processing. https://arxiv.org/abs/2010.02870
    """

    #: its meta-parameters carry an agent dimension, so a sweep's configurations must be equal
    sweepable = ()

    def __init__(self, model: nn.Module, *, agents: int = 4, graph="ring", **kwargs):
        super().__init__(model, **kwargs)
        self.n_agents = _checks.count("agents", agents, minimum=1)
        self.register_buffer("combination", combination_matrix(graph, agents))
        self.agents = nn.ParameterDict({flat_name(n): nn.Parameter(p.detach().unsqueeze(0).repeat(agents, *[1] * p.dim()))
                                        for n, p in model.named_parameters()})
        for p in self.model.parameters():  # the agents' copies are the meta-parameters
            p.requires_grad_(False)

    def meta_parameters(self) -> Params:
        return {k: v for k, v in self.named_parameters() if k.startswith(AGENT_PREFIX)}

    def network_keys(self, meta: Params) -> list[str]:
        return [k for k in meta if k.startswith(AGENT_PREFIX)]

    def model_parameters(self, meta: Params) -> Params:
        names = {flat_name(n): n for n, _ in self.model.named_parameters()}
        n = len(AGENT_PREFIX)
        return {names[k[n:]]: v for k, v in meta.items() if k.startswith(AGENT_PREFIX)}

    def consensus(self, meta: Params) -> Params:
        """The agents' average: one copy of the meta-parameters."""
        return {k: v.mean(0) for k, v in meta.items()}

    def reset_method_parameters(self) -> None:
        with torch.no_grad():
            for n, p in self.model.named_parameters():
                self.agents[flat_name(n)].copy_(p.unsqueeze(0).expand_as(self.agents[flat_name(n)]))

    def task_losses(self, meta, sx, sy, qx, qy, *, steps=None, vectorize=True):
        """Each agent adapts from its own parameters on its share of the tasks (the meta-batch
        split into K equal parts, in order); a batch that does not split uses the consensus."""
        t, k = sx.shape[0], self.n_agents
        if t % k:
            return super().task_losses(self.consensus(meta), sx, sy, qx, qy, steps=steps, vectorize=vectorize)
        shares = [x.reshape(k, t // k, *x.shape[1:]) for x in (sx, sy, qx, qy)]

        def agent(m, *tensors):
            return MetaLearner.task_losses(self, m, *tensors, steps=steps, vectorize=vectorize)

        if vectorize:
            losses, extras = vmap(agent)(meta, *shares)
        else:
            losses, extras = tree_stack([agent({n: v[a] for n, v in meta.items()}, *(s[a] for s in shares))
                                         for a in range(k)])
        return tree_map(lambda v: v.reshape(t, *v.shape[2:]), (losses, extras))

    def post_update(self, meta: Params) -> Params:
        """Combine: every agent takes the ``A``-weighted average of its neighbours (seeds stacked first)."""
        a = self.combination.to(next(iter(meta.values())).dtype)
        return {k: torch.einsum("lk,sl...->sk...", a, v) for k, v in meta.items()}

    def spread(self, meta: Params | None = None) -> float:
        """Mean distance of the agents from their average (0 at consensus)."""
        meta = self.meta_parameters() if meta is None else meta
        flat = torch.cat([v.detach().reshape(v.shape[0], -1) for v in meta.values()], 1)
        return float((flat - flat.mean(0)).norm(dim=1).mean())


class DifMAMLAgent(MetaLearner):
    """One Dif-MAML agent per process (run under ``torchrun``; the rank is the agent).

    ``meta_train`` gives each rank its share of every meta-batch and, because
    ``all_reduce_gradients`` is False, lets each agent step on its own meta-gradient; the
    combine step then all-gathers the agents' parameters and averages them with the
    column of the combination matrix that belongs to this rank. With the same seed the
    agents match :class:`DifMAML`'s simulated agents.

    Args:
        model: the network.
        graph: as for :class:`~wormhole.DifMAML`; the number of agents is the number of processes.
        **kwargs: ``loss``, ``inner_lr``, ``steps``, ``first_order`` as for :class:`~wormhole.MAML`.

    Example::

        # agents.py; run it as: torchrun --nproc_per_node 4 agents.py   (4 agents on a ring)
        import wormhole as wh

        wh.distributed.init()                # gloo on the CPU, nccl with CUDA
        agent = wh.DifMAMLAgent(wh.models.MLP(1, (40, 40), 1), loss="bce", inner_lr=0.4, graph="ring")
        history = wh.meta_train(agent, wh.tasks.Threshold(), iterations=100, meta_batch=32, seed=0)

    References:
        1. Kayaalp, M., Vlaski, S. & Sayed, A. H. (2022). "Dif-MAML: Decentralized Multi-Agent
           Meta-Learning." IEEE Open Journal of Signal Processing. https://arxiv.org/abs/2010.02870
    """

    all_reduce_gradients = False

    sweepable = ()

    def __init__(self, model: nn.Module, *, graph="ring", **kwargs):
        super().__init__(model, **kwargs)
        self.graph = graph

    def post_update(self, meta: Params) -> Params:
        a = combination_matrix(self.graph, distributed.world_size())[:, distributed.rank()]
        out = {}
        for k, v in meta.items():
            everyone = distributed.all_gather_stack(v)  # (agents, S, ...)
            out[k] = torch.einsum("l,ls...->s...", a.to(v.dtype).to(v.device), everyone)
        return out
