"""Inputs of any size through networks that halve it several times: pad up to a multiple, crop back after.

Generators work on an internal size that is a multiple of their total stride (150 px -> 152 for three 2x
steps) and crop their output to the size asked for; the UNet pads and crops the same way.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def round_up(size: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``size``."""
    return -(-int(size) // multiple) * multiple


def pad_to(x: Tensor, height: int, width: int, mode: str = "replicate") -> Tensor:
    """Pad the last two dims of ``x`` symmetrically (extra pixel at the end) up to ``height`` x ``width``."""
    dh, dw = height - x.shape[-2], width - x.shape[-1]
    if dh < 0 or dw < 0:
        raise ValueError(f"cannot pad {tuple(x.shape[-2:])} to the smaller {(height, width)}")
    if dh == dw == 0:
        return x
    return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode=mode)


def center_crop(x: Tensor, height: int, width: int) -> Tensor:
    """The central ``height`` x ``width`` window of the last two dims (inverse of :func:`pad_to`)."""
    h, w = x.shape[-2:]
    if height > h or width > w:
        raise ValueError(f"cannot crop {(h, w)} to the larger {(height, width)}")
    top, left = (h - height) // 2, (w - width) // 2
    return x[..., top:top + height, left:left + width]


def pad_to_stride(x: Tensor, channels: int, depth: int, name: str) -> Tensor:
    """Check a segmenter's input is ``[B, channels, H, W]`` and pad it to a multiple of ``2 ** depth`` (mirrored,
    or replicated when the image is smaller than one stride); crop the output back with :func:`center_crop`."""
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} expects [B, {channels}, H, W] images, got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    step = 2**depth
    return pad_to(x, round_up(h, step), round_up(w, step), mode="reflect" if min(h, w) > step else "replicate")
