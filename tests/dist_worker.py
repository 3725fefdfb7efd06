"""Run under torchrun by test_distributed.py: meta_train across processes, and Dif-MAML agents."""

import sys

import torch

import wormhole as wh

out = sys.argv[1]
wh.distributed.init("gloo")
rank = wh.distributed.rank()
kw = dict(iterations=6, meta_batch=8, meta_lr=1e-2, seed=0, progress=False, log_every=3, device="cpu")

torch.manual_seed(0)
learner = wh.Wormhole(wh.models.MLP(1, (6,), 1), loss="bce", inner_lr=0.3)
history = wh.meta_train(learner, wh.tasks.Threshold(), **kw)
if rank == 0:
    torch.save({"params": {k: v.detach() for k, v in learner.named_parameters()}, "history": history.to_dict()},
               f"{out}/train.pt")

torch.manual_seed(0)
agent = wh.DifMAMLAgent(wh.models.MLP(1, (6,), 1), loss="bce", inner_lr=0.3, graph="ring")
agent_history = wh.meta_train(agent, wh.tasks.Threshold(), **kw)
torch.save({"params": {k: v.detach() for k, v in agent.named_parameters()}, "history": agent_history.to_dict()},
           f"{out}/agent{rank}.pt")
torch.distributed.destroy_process_group()
