"""The hand-written back-propagation of the inner loop (``wormhole.backprop``) equals autograd's."""

import pytest
import torch
from torch.func import grad, vmap

import wormhole as wh
from wormhole import backprop
from test_every_learner import FACTORIES

T, K, OUT = 4, 5, 3
F64 = torch.float64  # comparisons in double precision, so that float32 rounding does not blur them


def _data(loss, in_features=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, K, in_features, generator=g, dtype=F64)
    if loss == "ce":
        y = torch.randint(0, OUT, (T, K), generator=g)
    elif loss == "bce":
        y = torch.randint(0, 2, (T, K, 1), generator=g).double()
    else:
        y = torch.randn(T, K, OUT, generator=g, dtype=F64)
    return x, y


def _out(loss):
    return 1 if loss == "bce" else OUT


def _relative(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


@pytest.mark.parametrize("loss", list(wh.losses.LOSSES))
def test_output_gradient_is_the_gradient_of_each_tasks_loss(loss):
    assert set(wh.losses.OUTPUT_GRADIENTS) == set(wh.losses.LOSSES)
    _, y = _data(loss)
    pred = torch.randn(T, K, _out(loss), dtype=F64)
    expected = vmap(grad(wh.losses.LOSSES[loss]))(pred, y)
    assert _relative(wh.losses.OUTPUT_GRADIENTS[loss](pred, y), expected) < 1e-12


@pytest.mark.parametrize("loss", list(wh.losses.LOSSES))
def test_batched_task_losses_and_accuracies_equal_the_per_task_ones(loss):
    _, y = _data(loss)
    pred = torch.randn(T, K, _out(loss), dtype=F64)
    assert torch.allclose(wh.losses.task_losses(loss, pred, y), vmap(wh.losses.LOSSES[loss])(pred, y), rtol=1e-12)
    accuracy = wh.losses.accuracy_fn(loss)
    got = wh.losses.task_accuracies(loss, pred, y)
    if accuracy is None:
        assert got.shape == (T,) and got.isnan().all()
    else:
        assert torch.equal(got, vmap(accuracy)(pred, y))


@pytest.mark.parametrize("model", [wh.models.MLP(2, (6, 4), 3), wh.models.Logistic()], ids=["MLP", "Logistic"])
@pytest.mark.parametrize("per_task", [False, True])
def test_dense_forward_and_backward_equal_autograd(model, per_task):
    layers = backprop.dense_layers(model)
    in_features = 1 if isinstance(model, wh.models.Logistic) else 2
    x, _ = _data("mse", in_features)
    params = {k: v.detach().double() for k, v in model.named_parameters()}
    if per_task:  # each task its own weights, as after the first inner step
        params = {k: v + 0.1 * torch.randn(T, *v.shape, dtype=F64) for k, v in params.items()}
    out, cache = backprop.dense_forward(layers, params, x)
    in_dims = (0 if per_task else None, 0)
    assert _relative(out, vmap(model.functional_forward, in_dims=in_dims)(params, x)) < 1e-12
    g_out = torch.randn_like(out)

    def pulled(p, xi, gi):
        return (model.functional_forward(p, xi) * gi).sum()

    expected = vmap(grad(pulled), in_dims=(*in_dims, 0))(params, x, g_out)
    everything = backprop.dense_backward(layers, params, cache, g_out, set(params))
    head = backprop.dense_backward(layers, params, cache, g_out, set(layers[-1]))  # ANIL adapts the head only
    assert set(everything) == set(params) and set(head) == set(layers[-1])
    for k, v in everything.items():
        assert v.shape == (T, *model.get_parameter(k).shape)
        assert _relative(v, expected[k]) < 1e-12
    for k, v in head.items():
        assert _relative(v, expected[k]) < 1e-12


LEARNERS = {name: make for name, make in FACTORIES.items() if not name.startswith("ESMAML")}
WORMHOLE_VARIANTS = {
    "Wormhole-unit": lambda m, **kw: wh.Wormhole(m, wormhole_init=0.5, granularity="unit", **kw),
    "Wormhole-first-order": lambda m, **kw: wh.Wormhole(m, wormhole_init=0.5, first_order=True, **kw),
}


def _meta_gradient(learner, x, y, steps):
    meta = learner.meta_parameters()
    losses, _ = learner.task_losses(meta, x, y, x.flip(1), y.flip(1), steps=steps)
    params = [p for p in meta.values() if p.requires_grad]
    return losses, torch.autograd.grad(losses.sum(), params, allow_unused=True)


@pytest.mark.parametrize("name", {**LEARNERS, **WORMHOLE_VARIANTS})
@pytest.mark.parametrize("loss", list(wh.losses.LOSSES))
@pytest.mark.parametrize("steps", [1, 3])
def test_every_learner_applies_it_and_keeps_its_meta_gradient(name, loss, steps):
    make = {**LEARNERS, **WORMHOLE_VARIANTS}[name]
    torch.manual_seed(0)
    learner = make(wh.models.MLP(2, (6,), _out(loss)), loss=loss, inner_lr=0.3).double()
    x, y = _data(loss)
    meta = learner.consensus(learner.meta_parameters())
    start = learner.initial_fast(meta)
    assert learner.explicit_support_gradients(meta, start, x, y) is not None, "the explicit path should apply"
    explicit = _meta_gradient(learner, x, y, steps)
    learner.explicit_backprop = False
    reference = _meta_gradient(learner, x, y, steps)
    assert _relative(explicit[0], reference[0]) < 1e-6
    for a, b in zip(explicit[1], reference[1]):
        assert (a is None) == (b is None)
        if a is not None:
            assert _relative(a, b) < 1e-6


def test_support_gradients_equal_vmap_of_support_gradient_shared_and_per_task():
    learner = wh.Wormhole(wh.models.MLP(2, (6,), 1), loss="bce", wormhole_init=0.5).double()
    x, y = _data("bce")
    meta = learner.meta_parameters()
    start = learner.initial_fast(meta)
    per_task = {k: v + 0.1 * torch.randn(T, *v.shape, dtype=F64) for k, v in start.items()}
    for fast, dims in ((start, None), (per_task, 0)):
        got = learner.explicit_support_gradients(meta, fast, x, y)
        expected = vmap(learner.support_gradient, in_dims=(None, dims, 0, 0))(meta, fast, x, y)
        assert list(got) == list(fast)
        for k in fast:
            assert _relative(got[k], expected[k]) < 1e-12


class _ForwardOverridden(wh.models.MLP):
    def forward(self, x, layer_scales=None):
        return super().forward(x, layer_scales) + 1.0


@pytest.mark.parametrize("case", ["convnet", "custom loss", "overridden forward", "placement=parameters",
                                  "granularity=layer", "ES-MAML", "switched off"])
def test_it_falls_back_to_torch_func_where_it_does_not_apply(case):
    mlp = wh.models.MLP(2, (6,), 1)
    learner = {
        "convnet": lambda: wh.MAML(wh.models.ConvNet(1, hidden=4), loss="bce"),
        "custom loss": lambda: wh.MAML(mlp, loss=lambda p, t: ((p - t) ** 2).mean()),
        "overridden forward": lambda: wh.MAML(_ForwardOverridden(2, (6,), 1), loss="bce"),
        "placement=parameters": lambda: wh.Wormhole(mlp, loss="bce", placement="parameters"),
        "granularity=layer": lambda: wh.Wormhole(mlp, loss="bce", granularity="layer"),
        "ES-MAML": lambda: wh.ESMAML(mlp, loss="bce", inner="es", n_samples=2, inner_samples=2),
        "switched off": lambda: wh.MAML(mlp, loss="bce"),
    }[case]().double()
    if case == "switched off":
        learner.explicit_backprop = False
    if case == "convnet":
        x, y = torch.randn(T, K, 1, 28, 28, dtype=F64), torch.randint(0, 2, (T, K, 1)).double()
    else:
        x, y = _data("bce")
    meta = learner.meta_parameters()
    assert learner.explicit_support_gradients(meta, learner.initial_fast(meta), x, y) is None
    learner.task_losses(meta, x, y, x, y)  # and the general path still runs


class _SquaredLoss(wh.MAML):
    def support_loss(self, meta, fast, x, y):
        return super().support_loss(meta, fast, x, y) ** 2


class _ShiftedForward:  # a mixin, not a learner: what it redefines counts for the class that uses it
    def forward_fast(self, meta, fast, x):
        return super().forward_fast(meta, fast, x) + 0.5


class _ShiftedMAML(_ShiftedForward, wh.MAML):
    pass


class _ShiftedWormhole(_ShiftedForward, wh.Wormhole):
    pass


class _Declared(_ShiftedMAML):
    explicit_backprop = False  # declared in the body: kept as written


@pytest.mark.parametrize("cls, expected", [(wh.MAML, True), (wh.Wormhole, True), (wh.LearnedScale, True),
                                           (wh.WormholeANIL, True), (_SquaredLoss, False), (_ShiftedMAML, False),
                                           (_ShiftedWormhole, False), (_Declared, False), (wh.ESMAML, False)])
def test_a_class_that_redefines_an_assumed_hook_loses_the_fast_path(cls, expected):
    assert cls.explicit_backprop is expected
    learner = cls(wh.models.MLP(2, (6,), 1), loss="bce").double()
    x, y = _data("bce")
    meta = learner.meta_parameters()
    fast = learner.initial_fast_batch(meta, x.shape[0])
    assert (learner.explicit_support_gradients(meta, fast, x, y) is not None) is expected
    # whichever path runs, the inner gradients are those of the class's own support loss
    expected_grads = vmap(learner.support_gradient, in_dims=(None, 0, 0, 0))(meta, fast, x, y)
    got = learner.support_gradients(meta, fast, x, y)
    for k in fast:
        assert _relative(got[k], expected_grads[k]) < 1e-12


def test_the_other_capabilities_follow_the_same_rule():
    class Clipped(wh.MAML):
        def step(self, meta, fast, grads):
            return fast

    assert wh.MAML.elementwise_step and not Clipped.elementwise_step
    assert wh.MAML.traceable_meta_gradients and not wh.TreeMAML.traceable_meta_gradients
    assert not wh.ESMAML.traceable_meta_gradients and wh.MetaSGD.traceable_meta_gradients


def test_an_overridden_inner_step_is_respected():
    class Clipped(wh.MAML):
        def step(self, meta, fast, grads):
            return {k: v - 0.3 * grads[k].clamp(-0.01, 0.01) for k, v in fast.items()}

    learner = Clipped(wh.models.MLP(2, (6,), 1), loss="bce").double()
    x, y = _data("bce")
    vectorised, _ = learner.task_losses(learner.meta_parameters(), x, y, x, y, steps=2)
    loop, _ = learner.task_losses(learner.meta_parameters(), x, y, x, y, steps=2, vectorize=False)
    assert _relative(vectorised, loop) < 1e-10


@pytest.mark.parametrize("name", ["MAML", "Wormhole", "WormholeANIL", "MetaSGD"])
@pytest.mark.parametrize("loss", list(wh.losses.LOSSES))
def test_evaluation_along_the_inner_loop_is_unchanged(name, loss):
    torch.manual_seed(0)
    learner = FACTORIES[name](wh.models.MLP(2, (6,), _out(loss)), loss=loss, inner_lr=0.3).double()
    x, y = _data(loss)
    meta = learner.meta_parameters()
    explicit = learner.losses_along_inner_loop(meta, x, y, x.flip(1), y.flip(1), steps=(0, 1, 3))
    learner.explicit_backprop = False
    reference = learner.losses_along_inner_loop(meta, x, y, x.flip(1), y.flip(1), steps=(0, 1, 3))
    assert _relative(explicit[0], reference[0]) < 1e-10
    assert torch.equal(explicit[1].isnan(), reference[1].isnan())
    assert torch.allclose(explicit[1], reference[1], equal_nan=True)


@pytest.mark.parametrize("name", ["MAML", "Wormhole", "Wormhole-unit", "WormholeANIL", "TreeMAML"])
@pytest.mark.parametrize("loss", list(wh.losses.LOSSES))
def test_meta_gradients_of_stacked_copies_are_unchanged(name, loss):
    """Training's path: vmap over copies (seeds, configurations) of grad of the objective."""
    torch.manual_seed(0)
    learner = {**LEARNERS, **WORMHOLE_VARIANTS}[name](wh.models.MLP(2, (6,), _out(loss)), loss=loss,
                                                     inner_lr=0.3, steps=2).double()
    copies = 2
    meta = {k: torch.stack([v.detach() + 0.01 * i for i in range(copies)]) for k, v in learner.meta_parameters().items()}
    x, y = _data(loss)
    tensors = [t.expand(copies, *t.shape) for t in (x, y, x.flip(1), y.flip(1))]
    explicit, (loss_e, _, _) = learner.meta_gradients(meta, *tensors, total_tasks=T)
    learner.explicit_backprop = False
    reference, (loss_r, _, _) = learner.meta_gradients(meta, *tensors, total_tasks=T)
    assert _relative(loss_e, loss_r) < 1e-10
    for k in reference:
        assert _relative(explicit[k], reference[k]) < 1e-6, k
