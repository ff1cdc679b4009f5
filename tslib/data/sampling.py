"""Class-balanced sampling for imbalanced training sets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import WeightedRandomSampler


def class_weights(targets: Sequence[int], num_classes: int | None = None) -> torch.Tensor:
    """Inverse class frequency per class (0 for absent classes), normalised to mean 1 over present classes."""
    t = torch.as_tensor(list(targets), dtype=torch.long)
    if t.numel() == 0:
        raise ValueError("no targets given")
    if (t < 0).any():
        raise ValueError("targets contain negative labels (unlabelled samples cannot be class-weighted)")
    counts = torch.bincount(t, minlength=num_classes or 0).double()
    w = torch.where(counts > 0, 1.0 / counts.clamp(min=1), torch.zeros_like(counts))
    return (w / w[counts > 0].mean()).float()


def make_weighted_sampler(
    targets: Sequence[int], num_samples: int | None = None, seed: int = 0
) -> WeightedRandomSampler:
    """A ``WeightedRandomSampler`` drawing every class equally often in expectation.

    It has its own seeded generator, so the draw never depends on the global RNG; the training engine re-seeds
    it per epoch, which keeps interrupted-and-resumed runs identical to uninterrupted ones.
    """
    t = torch.as_tensor(list(targets), dtype=torch.long)
    per_sample = class_weights(t)[t].double()
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(per_sample, num_samples or len(t), replacement=True, generator=generator)
