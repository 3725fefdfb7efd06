"""Two gloo processes under torchrun equal the single-process runs (meta_train and Dif-MAML)."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import wormhole as wh

KW = dict(iterations=6, meta_batch=8, meta_lr=1e-2, seed=0, progress=False, log_every=3, device="cpu")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(Path(__file__).with_name("dist_worker.py")), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        log, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, log.decode()[-3000:]
    finally:  # never leave workers behind, whatever happened
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return out


def test_two_process_meta_train_equals_single_process(two_processes):
    saved = torch.load(two_processes / "train.pt")
    torch.manual_seed(0)
    learner = wh.Wormhole(wh.models.MLP(1, (6,), 1), loss="bce", inner_lr=0.3)
    history = wh.meta_train(learner, wh.tasks.Threshold(), **KW)
    for k, v in learner.named_parameters():
        torch.testing.assert_close(saved["params"][k], v.detach(), atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.tensor(saved["history"]["meta_loss"]), torch.tensor(history.meta_loss),
                               atol=1e-6, rtol=0)


def test_two_dif_maml_agents_equal_the_simulated_agents(two_processes):
    agents = [torch.load(two_processes / f"agent{r}.pt") for r in range(2)]
    torch.manual_seed(0)
    sim = wh.DifMAML(wh.models.MLP(1, (6,), 1), loss="bce", inner_lr=0.3, agents=2, graph="ring")
    history = wh.meta_train(sim, wh.tasks.Threshold(), **KW)
    for name, p in sim.meta_parameters().items():
        model_name = name[len("agents."):].replace("__", ".")
        for r in range(2):
            torch.testing.assert_close(agents[r]["params"][f"model.{model_name}"], p[r].detach(), atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.tensor(agents[0]["history"]["meta_loss"]), torch.tensor(history.meta_loss),
                               atol=1e-6, rtol=0)


def test_combine_steps_shrink_the_spread_between_agents():
    ring = wh.DifMAML(wh.models.MLP(1, (6,), 1), loss="bce", inner_lr=0.3, agents=5, graph="ring")
    meta = {k: (v + torch.randn_like(v)).unsqueeze(0) for k, v in ring.meta_parameters().items()}  # one seed
    spreads = []
    for _ in range(6):
        spreads.append(ring.spread({k: v[0] for k, v in meta.items()}))
        meta = ring.post_update(meta)
    assert all(b < a for a, b in zip(spreads, spreads[1:])) and spreads[-1] < 0.2 * spreads[0]


def test_training_with_combination_keeps_agents_closer_than_without():
    kw = {k: v for k, v in KW.items() if k != "seed"}
    spread = {}
    for name, graph in (("ring", "ring"), ("isolated", torch.eye(4))):
        learner = wh.DifMAML(wh.models.MLP(1, (6,), 1), loss="bce", inner_lr=0.3, agents=4, graph=graph)
        spread[name] = wh.meta_train_seeds(learner, wh.tasks.Threshold(), [0], **kw)[0].learner.spread()
    assert spread["isolated"] > 0 and spread["ring"] < 0.5 * spread["isolated"]


@pytest.mark.parametrize("graph", [torch.tensor([[0.9, 0.2], [0.1, 0.8]]), "star", -torch.eye(2)])
def test_bad_graph_is_refused(graph):
    with pytest.raises(ValueError, match="graph"):
        wh.DifMAML(wh.models.MLP(1, (6,), 1), loss="bce", inner_lr=0.3, agents=2, graph=graph)


def test_meta_batch_must_split_over_processes():
    assert wh.distributed.share(8, world=2, index=1) == slice(4, 8)
    with pytest.raises(ValueError, match="meta_batch"):
        wh.distributed.share(7, world=2, index=0)
