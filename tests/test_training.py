"""meta_train: Adam equivalence, determinism, exact resume, multi-seed equality, non-finite stop."""

import os

import pytest
import torch

import wormhole as wh
from conftest import tiny_mlp
from wormhole.optim import adam_init, adam_step

ITER = dict(meta_batch=6, meta_lr=1e-2, progress=False, log_every=5, device="cpu")


def _learner():
    return wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3, steps=1)


def _params(learner):
    return {k: v.detach().clone() for k, v in learner.named_parameters()}


def test_functional_adam_equals_torch_adam():
    p = torch.randn(5, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.01)
    q = {"p": p.detach().clone()}
    state = adam_init(q)
    for i in range(5):
        g = torch.randn(5, generator=torch.Generator().manual_seed(i))
        p.grad = g.clone()
        opt.step()
        q, state = adam_step(q, {"p": g}, state, 0.01)
    torch.testing.assert_close(q["p"], p.detach(), atol=1e-7, rtol=0)


def test_meta_training_lowers_the_meta_loss():
    h = wh.meta_train(_learner(), wh.tasks.Threshold(), iterations=60, seed=0, **ITER)
    assert sum(h.meta_loss[-10:]) / 10 < sum(h.meta_loss[:10]) / 10


def test_training_is_deterministic():
    a, b = _learner(), _learner()
    ha = wh.meta_train(a, wh.tasks.Threshold(), iterations=12, seed=3, **ITER)
    hb = wh.meta_train(b, wh.tasks.Threshold(), iterations=12, seed=3, **ITER)
    assert ha.meta_loss == hb.meta_loss and ha.logged == hb.logged
    for k, v in _params(a).items():
        assert torch.equal(v, _params(b)[k])


def test_seeds_differ():
    ha = wh.meta_train(_learner(), wh.tasks.Threshold(), iterations=3, seed=0, **ITER)
    hb = wh.meta_train(_learner(), wh.tasks.Threshold(), iterations=3, seed=1, **ITER)
    assert ha.meta_loss != hb.meta_loss


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    ck = str(tmp_path / "run.pt")
    full = _learner()
    h_full = wh.meta_train(full, wh.tasks.Threshold(), iterations=20, seed=0, **ITER)
    part = _learner()
    wh.meta_train(part, wh.tasks.Threshold(), iterations=10, seed=0, checkpoint=ck, **ITER)
    assert os.path.exists(ck)
    resumed = _learner()
    h_res = wh.meta_train(resumed, wh.tasks.Threshold(), iterations=20, seed=0, checkpoint=ck, **ITER)
    assert h_res.meta_loss == h_full.meta_loss and h_res.accuracy == h_full.accuracy
    assert h_res.logged == h_full.logged
    for k, v in _params(full).items():
        assert torch.equal(v, _params(resumed)[k]), k


def test_multi_seed_run_equals_each_seed_alone():
    seeds = [0, 1, 2]
    runs = wh.meta_train_seeds(_learner(), wh.tasks.Threshold(), seeds, iterations=15, **ITER)
    for run in runs:
        alone = _learner()
        h = wh.meta_train(alone, wh.tasks.Threshold(), iterations=15, seed=run.seed, **ITER)
        torch.testing.assert_close(torch.tensor(run.history.meta_loss), torch.tensor(h.meta_loss), atol=1e-6, rtol=0)
        for k, v in _params(alone).items():
            torch.testing.assert_close(_params(run.learner)[k], v, atol=1e-6, rtol=0)


def test_seed_chunks_give_the_same_runs():
    a = wh.meta_train_seeds(_learner(), wh.tasks.Threshold(), [0, 1, 2], iterations=5, **ITER)
    b = wh.meta_train_seeds(_learner(), wh.tasks.Threshold(), [0, 1, 2], iterations=5, seed_chunk=2, **ITER)
    assert [r.seed for r in b] == [0, 1, 2]
    for ra, rb in zip(a, b):
        torch.testing.assert_close(torch.tensor(ra.history.meta_loss), torch.tensor(rb.history.meta_loss),
                                   atol=1e-6, rtol=0)


def test_non_finite_loss_stops_with_the_iteration():
    learner = wh.MAML(tiny_mlp(), loss="mse", inner_lr=1e6, steps=3)
    with pytest.raises(FloatingPointError, match="iteration 0"):
        wh.meta_train(learner, wh.tasks.WaveletRegression(), iterations=5, seed=0, **ITER)


def test_history_logs_conflict_and_wormhole_statistics():
    h = wh.meta_train(_learner(), wh.tasks.Threshold(), iterations=11, seed=0, **ITER)
    assert h.logged["iteration"] == [0, 5, 10]
    assert all(-1 <= c <= 1 for c in h.logged["conflict"])
    assert {"w0_mean", "adapted_w_mean", "flip_fraction", "flip_fraction_flipped_tasks"} <= h.logged.keys()
    assert len(h.meta_loss) == len(h.accuracy) == 11 and h.seconds_per_iteration() > 0


def test_evaluate_reports_every_step_and_uses_its_own_stream():
    learner = _learner()
    ev = wh.evaluate(learner, wh.tasks.Threshold(), n_tasks=50, steps=(0, 1, 5), seed=7, batch_size=20, device="cpu")
    assert ev.loss.shape == (50, 3) and set(ev.summary()) == {0, 1, 5}
    ev2 = wh.evaluate(learner, wh.tasks.Threshold(), n_tasks=50, steps=(0, 1, 5), seed=7, batch_size=50, device="cpu")
    assert (ev.loss == ev2.loss).all()  # the task stream does not depend on the batch size
    assert ev.mean_loss(5) < ev.mean_loss(0)


def test_evaluation_matches_meta_loss_at_the_training_steps(gen):
    learner = _learner()
    batch = wh.tasks.Threshold().sample(4, gen)
    losses, _ = learner.losses_along_inner_loop(learner.meta_parameters(), *batch.tensors(), steps=(0, 1))
    torch.testing.assert_close(losses[:, 1].mean(), learner.meta_loss(batch).detach())
    torch.testing.assert_close(losses[:, 0].mean(), learner.meta_loss(batch, steps=0).detach())


def test_adam_hd_without_hypergradient_is_adam_and_its_rate_follows_agreement():
    meta = {"p": torch.randn(2, 5)}
    grads = [{"p": torch.randn(2, 5, generator=torch.Generator().manual_seed(i))} for i in range(4)]
    plain, hd = wh.optim.Adam(0.01), wh.optim.AdamHD(0.01, hyper_lr=0.0)
    a, sa = meta, plain.init(meta)
    b, sb = meta, hd.init(meta)
    for g in grads:
        a, sa = plain.step(a, g, sa)
        b, sb = hd.step(b, g, sb)
    torch.testing.assert_close(a["p"], b["p"], atol=1e-7, rtol=0)
    same = wh.optim.AdamHD(0.01, hyper_lr=1e-3)
    m, s = meta, same.init(meta)
    for _ in range(3):  # the same gradient again and again: successive steps agree, so the rate grows
        m, s = same.step(m, grads[0], s)
    assert (s["lr"] > 0.01).all() and set(same.rates(m, s)) == {"meta_lr"}


def test_resume_with_any_other_setting_is_refused_naming_it(tmp_path):
    ck = str(tmp_path / "run.pt")
    kw = dict(iterations=2, seed=0, checkpoint=ck, **ITER)
    wh.meta_train(wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3), wh.tasks.Threshold(), **kw)
    for learner, setting in ((wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3, wormhole_init=0.1), "wormhole_init"),
                             (wh.Wormhole(wh.models.MLP(1, (7,), 1), loss="bce", inner_lr=0.3), "parameter_shapes"),
                             (wh.WormholeANIL(tiny_mlp(), loss="bce", inner_lr=0.3), "method")):
        with pytest.raises(ValueError, match=f"different run.*{setting}"):
            wh.meta_train(learner, wh.tasks.Threshold(), **{**kw, "iterations": 4})
    with pytest.raises(ValueError, match="tasks.shots"):
        wh.meta_train(wh.Wormhole(tiny_mlp(), loss="bce", inner_lr=0.3), wh.tasks.Threshold(shots=3),
                      **{**kw, "iterations": 4})


def test_atomic_write_leaves_nothing_behind_on_error(tmp_path):
    target = tmp_path / "out.json"

    def fail(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        wh.checkpoints.atomic_write(target, fail)
    assert list(tmp_path.iterdir()) == []
    wh.checkpoints.atomic_write(target, lambda tmp: open(tmp, "w").write("{}"))
    assert target.read_text() == "{}" and list(tmp_path.iterdir()) == [target]


def test_progress_bars_follow_tqdm_settings_and_the_library_reads_no_book_setting():
    import os
    import subprocess
    import sys

    import wormhole.training as training

    assert not hasattr(training, "book")   # the core library does not import the book's layer
    code = ("import wormhole as wh; wh.meta_train(wh.MAML(wh.models.Logistic(), loss='bce', inner_lr=1.0), "
            "wh.tasks.Threshold(), iterations=3, meta_batch=4, seed=0, progress=True, log_every=3)")

    def stderr(**env):
        base = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**base, "WORMHOLE_STATIC": "1", **env}).stderr

    assert "MAML x1 seeds" in stderr()                           # WORMHOLE_STATIC alone no longer hides it
    assert "MAML x1 seeds" not in stderr(TQDM_DISABLE="1")       # what the book's build sets


@pytest.mark.parametrize("value, disabled", [("1", True), ("true", True), ("", False), ("0", False)])
def test_tqdm_disable_also_switches_off_the_notebook_bar(monkeypatch, value, disabled):
    """tqdm's notebook bar (what tqdm.auto gives in a kernel) ignores TQDM_DISABLE; training reads it."""
    import wormhole.training as training

    made = []

    class Recording:
        def __init__(self, iterable, **kwargs):
            made.append(kwargs)
            self.iterable, self.disable = iterable, kwargs.get("disable", False)

        def __iter__(self):
            return iter(self.iterable)

        def set_postfix(self, **_):
            pass

        def close(self):
            pass

    monkeypatch.setattr(training, "tqdm", Recording)
    monkeypatch.setenv("TQDM_DISABLE", value)
    wh.meta_train(wh.MAML(wh.models.Logistic(), loss="bce", inner_lr=1.0), wh.tasks.Threshold(), iterations=2,
                  meta_batch=4, seed=0, progress=True, log_every=2, device="cpu")
    assert made and made[0].get("disable", False) is disabled
