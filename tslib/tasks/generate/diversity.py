"""Variety beside recognisability, in any judge's feature space: precision, recall, density and coverage
(Kynkäänniemi et al. 2019; Naeem et al. 2020, computed by the ``prdc`` package) and a duplicate rate, with real
photos as their own reference.

Agreement says whether a sample looks like its class; it rewards a generator that draws one convincing picture per
class. These say how much of the real photos' variety the samples cover:

- ``precision``: the share of samples inside the real photos' manifold (k-NN balls), ``recall`` the share of real
  photos inside the samples' manifold; ``density`` counts how many real balls a sample falls in (1 for real
  photos on average), ``coverage`` the share of real photos with a sample in their ball (about 1 - 1/2^k, 0.97 at
  k = 5, for two sets of real photos of the same size: Naeem et al.; a collapsed generator covers a few);
- ``duplicates``: the share of samples whose nearest other sample of the same class is closer than the nearest
  pair of real photos of that class: copies of each other, whatever they look like.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import torch
from torch import Tensor

#: the k of the k-nearest-neighbour balls (the value both papers use)
NEAREST_K = 5


def prdc(real: Tensor, fake: Tensor, k: int = NEAREST_K) -> dict[str, float] | None:
    """Precision, recall, density and coverage of ``fake`` features against ``real`` ones; None when either set
    has fewer than ``k + 2`` points (the package needs a k-th neighbour besides the point itself, and one more)."""
    if len(real) < k + 2 or len(fake) < k + 2:
        return None
    from prdc import compute_prdc

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes on every call
        scores = compute_prdc(real.double().numpy(), fake.double().numpy(), nearest_k=k)
    return {name: float(value) for name, value in scores.items()}


def prdc_per_class(real: Tensor, real_labels: Tensor, fake: Tensor, fake_labels: Tensor, classes: Sequence[str],
                   k: int = NEAREST_K) -> dict[str, dict[str, float] | None]:
    """:func:`prdc` within each class (None for a class with too few real photos or samples)."""
    return {name: prdc(real[real_labels == c], fake[fake_labels == c], k) for c, name in enumerate(classes)}


def _nearest_other(x: Tensor) -> Tensor:
    """Distance from each row of ``x`` to its nearest other row."""
    d = torch.cdist(x.double(), x.double())
    d.fill_diagonal_(float("inf"))
    return d.min(1).values


def duplicate_rate(fake: Tensor, fake_labels: Tensor | None, real: Tensor, real_labels: Tensor | None) -> float | None:
    """The share of samples whose nearest other sample of their class is closer than the nearest pair of real
    photos of that class (labels None: one class); None when no class has two of each."""
    fake_labels = torch.zeros(len(fake), dtype=torch.long) if fake_labels is None else fake_labels
    real_labels = torch.zeros(len(real), dtype=torch.long) if real_labels is None else real_labels
    copies, counted = 0, 0
    for c in fake_labels.unique():
        f, r = fake[fake_labels == c], real[real_labels == c]
        if len(f) < 2 or len(r) < 2:
            continue
        copies += int((_nearest_other(f) < _nearest_other(r).min()).sum())
        counted += len(f)
    return copies / counted if counted else None


def variety(real: Tensor, real_labels: Tensor, fake: Tensor, fake_labels: Tensor | None,
            classes: Sequence[str]) -> dict:
    """Everything above for one feature space: overall PRDC, per class (conditional samples), duplicates."""
    out = {"prdc": prdc(real, fake), "duplicates": duplicate_rate(fake, fake_labels, real, real_labels)}
    if fake_labels is not None:
        out["prdc_per_class"] = prdc_per_class(real, real_labels, fake, fake_labels, classes)
    return out
