"""Wavelet regression (chapter 4): MAML's sinusoid benchmark with PyWavelets' wavelets.

Two variants:

* ``variant="function"``: ``y(x) = A · ψ((x − b) / s) / max|ψ|`` on ``x ~ U[−x_max, x_max]``,
  with ψ tabulated by PyWavelets' ``wavefun`` (the table is centred at 0 and
  scaled to peak 1, so amplitude means peak height).
* ``variant="transform"``: the input is a random signal of length ``signal_length``
  and the target is ``sign · CWT(signal)[scale, position]`` from ``pywt.cwt``:
  a linear functional that the learner must recover from ``shots`` examples.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import _checks
from .base import TaskBatch, TaskFamily, uniform

DISCRETE_OK = ("db2", "db4", "db6", "sym4", "coif2")
VARIANTS = ("function", "transform")


def wavelet_table(name: str, level: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``(grid, psi)`` for a real wavelet from PyWavelets, centred at 0, unnormalised."""
    if name not in supported_wavelets():
        raise ValueError(f"wavelet must be one of {', '.join(supported_wavelets())} (real-valued); got {name!r}")
    import pywt   # PyWavelets loads when a wavelet is first built, not with ``import wormhole``

    if name in pywt.wavelist(kind="continuous"):
        psi, grid = pywt.ContinuousWavelet(name).wavefun(level=level)
    else:
        _, psi, grid = pywt.Wavelet(name).wavefun(level=level)
    grid = np.asarray(grid, dtype=np.float64)
    return grid - (grid[0] + grid[-1]) / 2, np.asarray(psi, dtype=np.float64)


def supported_wavelets() -> list[str]:
    """Real continuous wavelets from PyWavelets plus a few discrete ones (via ``wavefun``)."""
    import pywt

    real = [n for n in pywt.wavelist(kind="continuous") if n.startswith("gaus") or n in ("mexh", "morl")]
    return real + list(DISCRETE_OK)


class WaveletRegression(TaskFamily):
    """Regression on wavelets with random sign.

    Args:
        wavelet: a name from :func:`supported_wavelets` (``"mexh"``, ``"morl"``,
            ``"gaus1"``, ``"db4"``, ...). The transform variant needs a continuous one.
        shots, queries: examples per task.
        amplitude: range of ``|A|``; the sign is − with probability ``flip_probability``
            (``flip=True``: 0.5), always + with ``flip=False``.
        shift, scale: ranges of ``b`` and ``s`` (function variant).
        variant: ``"function"`` or ``"transform"``.
        signal_length: ``N`` of the transform variant's input signals.
        scales: CWT scales a transform task draws from.

    Shapes: function ``x (T, K, 1)``, ``y (T, K, 1)``; transform ``x (T, K, N)``, ``y (T, K, 1)``.
    """

    loss = "mse"

    def __init__(self, wavelet: str = "mexh", shots: int = 10, queries: int = 10, *,
                 amplitude=(0.5, 2.0), flip: bool = True, variant: str = "function", signal_length: int = 64,
                 shift=(-2.0, 2.0), scale=(0.5, 2.0), x_max: float = 5.0, scales=(1, 2, 4, 8),
                 flip_probability: float | None = None):
        super().__init__(shots, queries, flip, flip_probability)
        self.variant = _checks.choice("variant", variant, VARIANTS)
        self.wavelet = wavelet
        self.amplitude = _checks.interval("amplitude", amplitude)
        if self.amplitude[0] < 0:
            raise ValueError(f"amplitude is the range of |A| and must be >= 0; got {amplitude!r}")
        self.shift = _checks.interval("shift", shift)
        self.scale = _checks.interval("scale", scale)
        if self.scale[0] <= 0:
            raise ValueError(f"scale must be a range of positive numbers; got {scale!r}")
        self.x_max = _checks.positive("x_max", x_max)
        if variant == "function":
            grid, psi = wavelet_table(wavelet)
            self._grid = torch.tensor(grid, dtype=torch.float32)
            self._psi = torch.tensor(psi / np.abs(psi).max(), dtype=torch.float32)
            self.input_shape = (1,)
        else:
            import pywt

            if wavelet not in pywt.wavelist(kind="continuous"):
                raise ValueError(f"wavelet must be a continuous wavelet for variant='transform' (pywt.cwt); "
                                 f"got {wavelet!r}")
            wavelet_table(wavelet)  # rejects complex wavelets with a clear message
            self.signal_length = _checks.count("signal_length", signal_length, minimum=8)
            self.scales = tuple(_checks.count("scales", int(s)) for s in scales)
            # cwt is linear: the coefficient at (scale, position) is <signal, v>, with v read
            # off the transform of the standard basis.
            coefs, _ = pywt.cwt(np.eye(self.signal_length), self.scales, wavelet)
            self._functionals = torch.tensor(np.real(coefs).transpose(0, 2, 1).copy(), dtype=torch.float32)
            self.input_shape = (self.signal_length,)

    def psi(self, u: torch.Tensor) -> torch.Tensor:
        """The tabulated wavelet (peak 1) at points ``u``, linearly interpolated, 0 outside its support."""
        g, p = self._grid, self._psi
        pos = (u - g[0]) / (g[1] - g[0])
        i0 = pos.floor().clamp(0, len(g) - 2).long()
        frac = (pos - i0).clamp(0, 1)
        val = p[i0] * (1 - frac) + p[i0 + 1] * frac
        return torch.where((u >= g[0]) & (u <= g[-1]), val, torch.zeros_like(val))

    def sample_tasks(self, n_tasks, generator):
        n = self.shots + self.queries
        sign = self.signs(n_tasks, generator)
        if self.variant == "function":
            a = uniform(self.amplitude, n_tasks, generator) * sign
            b = uniform(self.shift, n_tasks, generator)
            s = uniform(self.scale, n_tasks, generator)
            x = (torch.rand(n_tasks, n, 1, generator=generator) * 2 - 1) * self.x_max
            y = a.view(-1, 1, 1) * self.psi((x - b.view(-1, 1, 1)) / s.view(-1, 1, 1))
        else:
            si = torch.randint(0, len(self.scales), (n_tasks,), generator=generator)
            lo, hi = self.signal_length // 4, 3 * self.signal_length // 4
            pos = torch.randint(lo, hi, (n_tasks,), generator=generator)
            x = torch.randn(n_tasks, n, self.signal_length, generator=generator)
            v = self._functionals[si, pos]  # (T, N)
            y = (x @ v.unsqueeze(-1)) * sign.view(-1, 1, 1)
        k = self.shots
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:], sign)

    def describe(self):
        d = {**super().describe(), "wavelet": self.wavelet, "variant": self.variant, "amplitude": self.amplitude}
        if self.variant == "transform":
            d.update(signal_length=self.signal_length, scales=self.scales)
        else:
            d.update(shift=self.shift, scale=self.scale, x_max=self.x_max)
        return d
