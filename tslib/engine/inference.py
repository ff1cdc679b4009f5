"""Batched inference over a loader and flip test-time augmentation, shared by every task.

Nothing here imports the training loop: a finished run is used through these and :mod:`tslib.engine.runs`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ..utils import progress_bar, to_device
from .precision import autocast


def flip_tta(fn: Callable[[Tensor], Tensor], x: Tensor, dense: bool = False) -> Tensor:
    """Mean of ``fn(x)`` and ``fn`` of the horizontally flipped batch (landscapes and aerial images are
    mirror-symmetric). ``dense=True`` flips the second output back first, so per-pixel predictions (a
    segmentation map, an image) line up with the input."""
    plain, flipped = fn(x), fn(x.flip(-1))
    if dense:
        flipped = flipped.flip(-1)
    return (plain + flipped) / 2


@torch.no_grad()
def run_batches(
    module: nn.Module,
    loader: DataLoader,
    device: torch.device | str = "cpu",
    fn: Callable[[Tensor], Tensor] | None = None,
    progress: bool = False,
    desc: str = "predicting",
) -> tuple[Tensor, Tensor | None]:
    """``fn(batch["image"])`` (default: ``module(...)``) for every batch, as one fp32 CPU tensor, and the batches'
    ``label`` entries (None when the loader has none). ``module`` is put in eval mode on ``device``."""
    device = torch.device(device)
    module.eval().to(device)
    memory_format = torch.channels_last if device.type == "cuda" else None
    if memory_format is not None:
        module.to(memory_format=memory_format)
    fn = fn or module
    outputs, labels = [], []
    for batch in progress_bar(loader, desc, progress):
        batch = to_device(batch, device, non_blocking=True, memory_format=memory_format)
        with autocast(device):
            outputs.append(fn(batch["image"]).float().cpu())
        if "label" in batch:
            labels.append(torch.as_tensor(batch["label"]).cpu())
    if not outputs:
        raise ValueError("the loader produced no batches")
    return torch.cat(outputs), (torch.cat(labels) if labels else None)
