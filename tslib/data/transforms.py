"""The original study's augmentation pipeline and a plain eval transform (torchvision.transforms.v2).

Transforms take and return sample dicts (``{"image": tv_tensors.Image, "label": int}``): v2 transforms act on the
image and pass the label through, so the same pipeline works for masks later.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from ..imagenet import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (re-exported for the data transforms' users)

#: The study's geometry at its native 150 px: resize 150, random crop 125, random resized crop back to 150.
STUDY_SIZE = 150
STUDY_CROP = 125


def interpolation_mode(name: str) -> v2.InterpolationMode:
    """Pretrained weights are tied to the resize filter they were trained with (bicubic for some)."""
    return v2.InterpolationMode(name.lower())


def _finish(mean: Sequence[float], std: Sequence[float]) -> list:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]


def study_train_steps(size: int = STUDY_SIZE, interpolation: str = "bilinear") -> list[tuple[str, v2.Transform]]:
    """The study's augmentations in order, named; ``size`` rescales the 150/125 geometry proportionally."""
    crop = round(size * STUDY_CROP / STUDY_SIZE)
    mode = interpolation_mode(interpolation)
    return [
        ("resize", v2.Resize(size, interpolation=mode, antialias=True)),
        ("random crop", v2.RandomCrop(crop, pad_if_needed=True)),
        ("rotation 45", v2.RandomRotation(45)),
        ("h-flip 0.5", v2.RandomHorizontalFlip(0.5)),
        ("v-flip 0.05", v2.RandomVerticalFlip(0.05)),
        ("random resized crop", v2.RandomResizedCrop(size, scale=(0.8, 1.0), interpolation=mode, antialias=True)),
        ("brightness 0.4", v2.ColorJitter(brightness=0.4)),
    ]


def train_transform(
    size: int = STUDY_SIZE,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    interpolation: str = "bilinear",
) -> v2.Compose:
    """The study's training pipeline: resize 150, random crop 125, rotation 45, h-flip 0.5, v-flip 0.05,
    random resized crop 150 (scale 0.8-1.0), brightness jitter 0.4, then float + normalisation."""
    steps = study_train_steps(size, interpolation)
    return v2.Compose([v2.ToImage(), *(t for _, t in steps), *_finish(mean, std)])


def eval_transform(
    size: int = STUDY_SIZE,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    resize_size: int | None = None,
    interpolation: str = "bilinear",
) -> v2.Compose:
    """Deterministic: resize the shorter side to ``resize_size`` (default ``size``), centre crop ``size``."""
    resize = v2.Resize(resize_size or size, interpolation=interpolation_mode(interpolation), antialias=True)
    return v2.Compose([v2.ToImage(), resize, v2.CenterCrop(size), *_finish(mean, std)])


def denormalize(image: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
    """Undo normalisation for display: float CHW (or BCHW) in [0, 1]."""
    m = torch.tensor(mean, dtype=image.dtype, device=image.device).view(-1, 1, 1)
    s = torch.tensor(std, dtype=image.dtype, device=image.device).view(-1, 1, 1)
    return (image * s + m).clamp(0, 1)


def generation_transform(size: int, train: bool = False) -> v2.Compose:
    """Generator images: shorter side resized to ``size``, centre crop, float in [0, 1] (no normalisation, so a
    decoder's sigmoid output is directly an image); training adds a horizontal flip."""
    steps = [v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size)]
    if train:
        steps.append(v2.RandomHorizontalFlip(0.5))
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True)])
