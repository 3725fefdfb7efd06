"""The expressivity measure can say "nothing new" and can say "new": checked against first-order theory."""

import pytest
import torch

import wormhole as wh
from wormhole.expressivity import added_directions, jacobians, one_step_kernels

X = torch.linspace(-2, 2, 300).unsqueeze(1)


def _wormhole(w0, **kw):
    torch.manual_seed(0)
    out = kw.pop("out", 1)
    return wh.Wormhole(wh.models.MLP(1, (8, 8), out), loss="mse", inner_lr=0.1, wormhole_lr=1.0,
                       wormhole_init=w0, **kw)


@pytest.mark.parametrize("kw", [dict(), dict(granularity="layer"), dict(granularity="unit", out=3),
                                dict(placement="parameters")])
def test_linear_head_at_w_one_adds_no_direction(kw):
    d = added_directions(_wormhole(1.0, **kw), X)
    assert not d.saturated and d.rank_theta > 0
    assert d.added == 0                                     # Euler: ∂(w g)/∂w = g lies in span J_θ


def test_the_seam_adds_the_multipliers_directions():
    assert added_directions(_wormhole(0.0), X).added == 1
    assert added_directions(_wormhole(0.0, granularity="unit", out=3), X).added == 3


def test_maml_has_no_extra_columns():
    torch.manual_seed(0)
    maml = wh.MAML(wh.models.MLP(1, (8, 8), 1), loss="mse")
    j_theta, j_extra = jacobians(maml, X)
    assert j_extra.shape == (300, 0) and added_directions(maml, X).added == 0


def test_the_measure_sees_a_direction_outside_the_span():
    # f(x) = a·x + sin(x) is not homogeneous in its parameter: w·f moves along sin(x), which a cannot
    class Affine(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return self.a * x + torch.sin(x)
    learner = wh.Wormhole(Affine(), loss="mse", inner_lr=0.1, wormhole_init=1.0)
    d = added_directions(learner, X)
    assert (d.rank_theta, d.added) == (1, 1)


def test_saturation_is_reported():
    d = added_directions(_wormhole(1.0), torch.tensor([[-1.5], [0.2], [1.3]]))  # 3 rows: no room
    assert d.saturated


def test_one_step_kernel_adds_inside_maml_range_at_w_one():
    k = one_step_kernels(_wormhole(1.0), X)
    assert k.extra_share > 0 and k.outside < 1e-6
    k0 = one_step_kernels(_wormhole(0.0), X)
    assert k0.outside == pytest.approx(1.0)
