"""Properties every learner that ``wormhole.learners`` exports must have.

Every name in ``wormhole.learners.__all__`` is walked: a new learner that can be built as
``Learner(model, loss=..., inner_lr=..., steps=...)`` is picked up with no change here;
:data:`VARIANTS` adds the settings that exercise a learner's other code paths.
"""

import inspect

import pytest
import torch

import wormhole as wh
import wormhole.learners


def mlp(hidden=(6,)):
    torch.manual_seed(0)
    return wh.models.MLP(1, hidden, 1)


#: learners built with settings other than their defaults (ES-MAML in both inner modes; its
#: directions are seeded): ``name`` or ``name-variant`` → factory(model, **settings)
VARIANTS = {
    "Wormhole": lambda m, **kw: wh.Wormhole(m, wormhole_init=0.5, **kw),
    "Wormhole-learned-rate": lambda m, **kw: wh.Wormhole(m, learn_wormhole_lr=True, **kw),
    "ESMAML": lambda m, **kw: wh.ESMAML(m, n_samples=4, **kw),
    "ESMAML-es": lambda m, **kw: wh.ESMAML(m, n_samples=4, inner="es", inner_samples=8, sigma=1e-3, inner_seed=3, **kw),
    "DifMAML": lambda m, **kw: wh.DifMAML(m, agents=2, **kw),
    "LearnedScale": lambda m, **kw: wh.LearnedScale(m, wormhole_init=0.5, **kw),
}


def _default(cls):
    return lambda m, **kw: cls(m, **kw)


#: one small instance of every exported learner: its variants, else the learner at its defaults
FACTORIES = {**{name: _default(getattr(wormhole.learners, name)) for name in wormhole.learners.__all__
                if name not in VARIANTS}, **VARIANTS}


def test_every_export_is_a_learner_and_every_variant_names_one():
    for name in wormhole.learners.__all__:
        assert issubclass(getattr(wormhole.learners, name), wh.MetaLearner), name
        assert getattr(wh, name) is getattr(wormhole.learners, name)   # exported at the top level too
    assert {name.split("-")[0] for name in VARIANTS} <= set(wormhole.learners.__all__)


def _batch(n=6, double=False):
    b = wh.tasks.Threshold(shots=5, queries=7).sample(n, torch.Generator().manual_seed(0))
    return wh.tasks.TaskBatch(*(t.double() for t in b.tensors()), b.sign) if double else b


def _loss_and_gradient(learner, batch, vectorize):
    params = [p for p in learner.parameters() if p.requires_grad]
    loss = learner.meta_loss(batch, vectorize=vectorize)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return loss.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def _assert_loop_equals_vectorised(learner, batch):
    """The per-task loop and the vectorised path give the same meta-loss and meta-gradient."""
    loss_v, grad_v = _loss_and_gradient(learner, batch, True)
    loss_l, grad_l = _loss_and_gradient(learner, batch, False)
    torch.testing.assert_close(loss_v, loss_l, atol=1e-12, rtol=1e-10)
    for a, b in zip(grad_v, grad_l):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-9)


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("steps", [1, 2])
def test_loop_and_vectorised_paths_agree(name, steps):
    learner = FACTORIES[name](mlp(), loss="bce", inner_lr=0.3, steps=steps).double()
    batch = _batch(double=True)
    _assert_loop_equals_vectorised(learner, batch)


def test_zero_order_inner_loop_is_used_by_every_path():
    exact = FACTORIES["ESMAML"](mlp(), loss="bce", inner_lr=0.3, steps=1).double()
    zero = FACTORIES["ESMAML-es"](mlp(), loss="bce", inner_lr=0.3, steps=1).double()
    batch = _batch(double=True)
    for vectorize in (True, False):
        assert abs(exact.meta_loss(batch, vectorize=vectorize) - zero.meta_loss(batch, vectorize=vectorize)) > 1e-6
    b = batch.select(0)
    adapted = zero.adapt(b.support_x[0], b.support_y[0])
    meta = zero.meta_parameters()
    expected = zero.step(meta, zero.initial_fast(meta),
                         zero.zero_order_gradient(meta, zero.initial_fast(meta), b.support_x[0], b.support_y[0]))
    for k in adapted:
        torch.testing.assert_close(adapted[k], expected[k])


@pytest.mark.parametrize("name", FACTORIES)
def test_describe_holds_every_constructor_argument_and_the_model(name):
    learner = FACTORIES[name](mlp(), loss="bce", inner_lr=0.3)
    record = learner.describe()
    for klass in type(learner).__mro__:
        if klass is torch.nn.Module:
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for arg, p in inspect.signature(init).parameters.items():
            if arg != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                assert arg in record, f"{name}.describe() lacks {arg!r} (from {klass.__name__})"
    assert record["method"] == type(learner).__name__
    assert record["model"]["class"] == "MLP" and record["model"]["n_parameters"] == 19
    assert record["model"]["parameter_shapes"]["layers.0.weight"] == [6, 1]


def test_describe_records_the_values_given():
    record = wh.Wormhole(mlp(), loss="bce", inner_lr=0.3, wormhole_init=0.1, learn_wormhole_lr=True).describe()
    assert record["wormhole_init"] == 0.1 and record["learn_wormhole_lr"] is True and record["inner_lr"] == 0.3
    es = wh.ESMAML(mlp(), loss="bce", inner_samples=5, inner_seed=7).describe()
    assert es["inner_samples"] == 5 and es["inner_seed"] == 7 and es["first_order"] is True


@pytest.mark.parametrize("name", FACTORIES)
def test_every_learner_lowers_its_held_out_meta_loss_at_the_same_meta_lr(name):
    torch.set_num_threads(1)  # tiny models: threads cost more than they give
    tasks = wh.tasks.Threshold()
    held_out = tasks.sample(64, torch.Generator().manual_seed(123))
    learner = FACTORIES[name](mlp((16, 16)), loss="bce", inner_lr=0.4)
    learner.reset_parameters(wh.seeding.stream_seed(0, "init"))  # the initialisation meta_train(seed=0) uses
    with torch.no_grad():
        before = learner.meta_loss(held_out).item()
    wh.meta_train(learner, tasks, iterations=150, meta_batch=8, meta_lr=3e-3, seed=0, progress=False,
                  log_every=150, device="cpu")
    with torch.no_grad():
        after = learner.meta_loss(held_out).item()
    assert after < before - 0.05, (name, before, after)


@pytest.mark.parametrize("name", ["Wormhole", "WormholeANIL", "WormholeMetaSGD"])
def test_adapted_quantities_reach_history_and_diagnostics_with_the_same_keys(name):
    learner = FACTORIES[name](mlp(), loss="bce", inner_lr=0.3)
    h = wh.meta_train(learner, wh.tasks.Threshold(), iterations=2, meta_batch=6, seed=0, progress=False,
                      log_every=1, device="cpu")
    keys = {"w0_mean", "adapted_w_mean", "flip_fraction", "flip_fraction_flipped_tasks",
            "flip_fraction_unflipped_tasks", "w_sign_task_agreement", "wormhole_lr"}
    assert keys <= h.logged.keys()
    usage = wh.diagnostics.wormhole_usage(learner, _batch(8))
    assert keys <= usage.keys() and usage["adapted_w"].shape[0] == 8
    assert wh.diagnostics.adaptation_statistics(wh.MAML(mlp(), loss="bce"), _batch()) == {}
    with pytest.raises(ValueError, match="learner"):
        wh.diagnostics.wormhole_usage(wh.MAML(mlp(), loss="bce"), _batch())


def test_effective_wormhole_lr_is_the_learned_rate():
    fixed = wh.Wormhole(mlp(), loss="bce", inner_lr=0.3)
    assert fixed.effective_wormhole_lr == 0.3
    assert wh.Wormhole(mlp(), loss="bce", inner_lr=0.3, wormhole_lr=0.7).effective_wormhole_lr == 0.7
    learned = wh.Wormhole(mlp(), loss="bce", inner_lr=0.3, wormhole_lr=0.5, learn_wormhole_lr=True)
    wh.meta_train(learned, wh.tasks.Threshold(), iterations=5, meta_batch=6, meta_lr=0.05, seed=0, progress=False,
                  device="cpu")
    assert learned.effective_wormhole_lr == pytest.approx(float(learned.log_wormhole_lr.detach().exp()))
    assert learned.effective_wormhole_lr != pytest.approx(0.5)
    assert float(learned.inner_rates(learned.meta_parameters())["wormhole"].detach()) == pytest.approx(learned.effective_wormhole_lr)


def _readme_learner():
    """The README's "Adding your own method" example, as a reader would write it in the package."""
    import pathlib
    import re
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(# wormhole/learners/clipped\.py\n.*?)```", text, re.S).group(1)
    namespace = {}
    exec(code.replace("from .maml import MAML", "from wormhole.learners.maml import MAML"), namespace)
    return namespace["ClippedMAML"]


def test_the_readme_example_learner_runs_every_path_alike():
    cls = _readme_learner()
    assert issubclass(cls, wh.MAML) and not cls.elementwise_step and cls.explicit_backprop
    learner = cls(mlp(), loss="bce", inner_lr=0.3, steps=2, clip=0.05).double()
    batch = _batch(double=True)
    _assert_loop_equals_vectorised(learner, batch)
    unclipped = wh.MAML(mlp(), loss="bce", inner_lr=0.3, steps=2).double()
    assert abs(learner.meta_loss(batch) - unclipped.meta_loss(batch)) > 1e-6   # the clip is applied
    assert learner.describe()["clip"] == 0.05
