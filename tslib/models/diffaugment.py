"""Differentiable augmentation (DiffAugment, Zhao et al., NeurIPS 2020): colour, translation, cutout.

A discriminator that sees every real and fake image through the same random, differentiable transforms cannot
memorise a small training set, and the generator still gets gradients through them. The three policies follow the
reference implementation (``color,translation,cutout``) on images in [-1, 1]; every draw uses the global torch RNG,
so a resumed run (which restores it) sees the same augmentations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

POLICIES = ("color", "translation", "cutout")


def rand_color(x: Tensor) -> Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5), one draw per image."""
    n = len(x)
    x = x + (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


def _grid(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    n, _, h, w = x.shape
    return torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                          torch.arange(w, device=x.device), indexing="ij")


def rand_translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros (mid-grey in [-1, 1])."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    b, gy, gx = _grid(x)
    # Index a zero-padded copy; positions shifted past the border land on the padding.
    gy = torch.clamp(gy + ty + 1, 0, h + 1)
    gx = torch.clamp(gx + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[b, gy, gx].permute(0, 3, 1, 2).contiguous()


def rand_cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero one square of ``ratio`` x the image size per image, at a random place (may overlap the border)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    b, gy, gx = _grid(x[:, :1, :ch, :cw])
    gy = torch.clamp(gy + oy - ch // 2, 0, h - 1)
    gx = torch.clamp(gx + ox - cw // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[b, gy, gx] = 0
    return x * mask.unsqueeze(1)


_FUNCS = {"color": rand_color, "translation": rand_translation, "cutout": rand_cutout}


def diff_augment(x: Tensor, policies: tuple[str, ...] = POLICIES) -> Tensor:
    """Apply ``policies`` in order to a batch in [-1, 1] (differentiable with respect to ``x``)."""
    unknown = [p for p in policies if p not in _FUNCS]
    if unknown:
        raise ValueError(f"unknown DiffAugment policies {unknown}; valid: {', '.join(POLICIES)}")
    for p in policies:
        x = _FUNCS[p](x)
    return x
