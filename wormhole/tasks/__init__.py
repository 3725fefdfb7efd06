"""Task families: each samples a :class:`TaskBatch` with tasks as the leading dimension."""

from .base import TaskBatch, TaskFamily
from .mnist import MNISTPairs, MNISTWays
from .quadratic import Quadratic
from .sinusoid import Sinusoid
from .threshold import Threshold
from .wavelet import WaveletRegression, supported_wavelets

__all__ = ["TaskBatch", "TaskFamily", "Threshold", "WaveletRegression", "supported_wavelets",
           "MNISTPairs", "MNISTWays", "Quadratic", "Sinusoid"]
