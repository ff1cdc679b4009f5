"""Whole-image segmentation by sliding windows: overlapping windows at native scale, their logits blended with a
Gaussian weight (centres count most, so tile seams do not show), produced as bands of finished rows.

Only one band of windows is in memory at a time: the running sums cover ``window`` rows, and rows that no later
window touches are handed on (to :class:`~tslib.data.pngstream.PngWriter` in :func:`segment_file`) and dropped.
The image is any [H, W, 3] uint8 array-like read top to bottom: an orthophoto opened by
:func:`tslib.data.georaster.open_raster` decodes only the rows asked for, so memory stays flat however large it is
(:mod:`.maps` turns files into map files).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor, nn

from ...engine.inference import flip_tta
from ...engine.precision import autocast
from ...imagenet import IMAGENET_MEAN, IMAGENET_STD


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Starts of windows of ``window`` pixels every ``stride`` that cover ``0..length`` (the last one flush with
    the end); one window at 0 when ``length <= window``."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window, stride))
    return starts + [length - window]


def gaussian_weight(h: int, w: int, sigma: float = 0.125) -> Tensor:
    """[h, w] blending weight: a Gaussian of ``sigma`` times the window side, floored so edges still count."""
    def axis(n: int) -> Tensor:
        x = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
        return torch.exp(-0.5 * (x / max(sigma * n, 1e-6)) ** 2)

    g = axis(h)[:, None] * axis(w)[None, :]
    return (g / g.max()).clamp(min=1e-3)


@torch.no_grad()
def iter_bands(model: nn.Module, image, **kwargs) -> Iterator[tuple[int, Tensor]]:
    """``(top, logits)`` for consecutive bands of rows of ``image`` (uint8 [H, W, 3], an array or a band reader
    such as :class:`~tslib.data.georaster.RasterRows`, read top to bottom): ``logits`` is the blended
    fp32 [C, h, W] of rows ``top..top+h`` (on the CPU); bands come in order and cover every row once. Options:
    ``window=512, overlap=0.25, batch_size=4, tta=False, device="cpu", margin=8``; each window is mirrored
    ``margin`` pixels outwards before the forward pass (and cropped back), so the image's own border rows are not
    predicted from convolution zero-padding."""
    band_top, parts = None, []
    for top, _, acc, wsum in _blend(model, image, **kwargs):
        if parts and top != band_top:
            yield band_top, torch.cat(parts, -1)
            parts = []
        band_top = top
        parts.append((acc / wsum).cpu())
    if parts:
        yield band_top, torch.cat(parts, -1)


@torch.no_grad()
def iter_class_bands(model: nn.Module, image, **kwargs) -> Iterator[tuple[int, np.ndarray]]:
    """``(top, classes)``: as :func:`iter_bands`, but the class of each pixel (uint8 [h, W]), chosen on the
    device. The argmax of the weighted sums is that of the weighted mean (the weights are positive), so neither
    the division nor fp32 logits of a whole band are ever made: a band costs 1 byte a pixel."""
    band_top, labels = None, None
    for top, left, acc, _ in _blend(model, image, **kwargs):
        if labels is not None and top != band_top:
            yield band_top, labels
            labels = None
        if labels is None:
            band_top, labels = top, np.empty((acc.shape[1], image.shape[1]), np.uint8)
        labels[:, left:left + acc.shape[2]] = acc.argmax(0).to(torch.uint8).cpu().numpy()
    if labels is not None:
        yield band_top, labels


def _blend(model: nn.Module, image, window: int = 512, overlap: float = 0.25, batch_size: int = 4,
           tta: bool = False, device: str | torch.device = "cpu", margin: int = 8
           ) -> Iterator[tuple[int, int, Tensor, Tensor]]:
    """``(top, left, weighted logit sums [C, h, n], weight sums [h, n])`` of finished blocks, band by band and left
    to right within a band; views valid until the next block is asked for.

    Memory does not grow with the image: a window row is summed in a buffer one window wide, columns are handed on
    as soon as no later window of the row touches them (its finished rows; the rows the next window row overlaps
    are carried, [C, overlap rows, W])."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}")
    if window < 16 or not 0 <= overlap < 1:
        raise ValueError(f"window must be >= 16 pixels and overlap in [0, 1); got {window} and {overlap}")
    device = torch.device(device)
    model.eval().to(device)
    height, width = image.shape[:2]
    wh, ww = min(window, height), min(window, width)  # fully convolutional: a small image is one window
    ys = window_starts(height, wh, max(1, round(wh * (1 - overlap))))
    xs = window_starts(width, ww, max(1, round(ww * (1 - overlap))))
    weight = gaussian_weight(wh, ww).to(device)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=device).view(3, 1, 1) * 255

    def forward(x: Tensor) -> Tensor:
        m = min(margin, x.shape[-2] - 1, x.shape[-1] - 1)
        if m > 0:
            x = torch.nn.functional.pad(x, (m, m, m, m), mode="reflect")
        with autocast(device):
            out = model(x).float()
        return out[..., m:out.shape[-2] - m, m:out.shape[-1] - m] if m > 0 else out

    carry = None  # (sums, weights) of the rows this window row shares with the one above
    for i, y in enumerate(ys):
        done = (ys[i + 1] if i + 1 < len(ys) else height) - y  # rows no later window row touches
        rows = np.asarray(image[y:y + wh])  # one read per window row (an on-demand TIFF decodes its strips here)
        row = None
        for k in range(0, len(xs), batch_size):
            chunk = xs[k:k + batch_size]
            batch = torch.stack([torch.from_numpy(np.ascontiguousarray(rows[:, x:x + ww])) for x in chunk])
            batch = (batch.to(device).permute(0, 3, 1, 2).float() - mean) / std
            logits = flip_tta(forward, batch, dense=True) if tta else forward(batch)
            row = row or _WindowRow(y, done, logits.shape[1], wh, ww, width, carry, device)
            for x, out in zip(chunk, logits):
                if x > row.c0:  # every earlier window is summed: columns left of x are complete
                    yield from row.finish(x)
                row.work += out * weight
                row.work_w += weight
        yield from row.finish(width)
        carry = row.next


class _WindowRow:
    """The running sums of one row of windows: a buffer one window wide that slides right as columns are finished,
    and the rows shared with the next window row, kept for the whole width."""

    def __init__(self, top: int, done: int, classes: int, wh: int, ww: int, width: int,
                 carry: tuple[Tensor, Tensor] | None, device: torch.device) -> None:
        self.top, self.done, self.ww, self.carry, self.c0 = top, done, ww, carry, 0
        self.work = torch.zeros(classes, wh, ww, device=device)
        self.work_w = torch.zeros(wh, ww, device=device)
        self.next = None if done == wh else (torch.zeros(classes, wh - done, width, device=device),
                                             torch.zeros(wh - done, width, device=device))

    def finish(self, upto: int) -> Iterator[tuple[int, int, Tensor, Tensor]]:
        """Hand on columns ``c0..upto`` (complete for this window row) and carry their overlap rows down."""
        c0, n, done = self.c0, upto - self.c0, self.done
        a, w = self.work[:, :, :n], self.work_w[:, :n]
        if self.carry is not None:
            sums, weights = self.carry
            a[:, :sums.shape[1]] += sums[:, :, c0:upto]
            w[:sums.shape[1]] += weights[:, c0:upto]
        yield self.top, c0, a[:, :done], w[:done]
        if self.next is not None:
            self.next[0][:, :, c0:upto] = a[:, done:]
            self.next[1][:, c0:upto] = w[done:]
        for buf in (self.work, self.work_w):  # slide left by the handed-on columns
            buf[..., :self.ww - n] = buf[..., n:].clone()
            buf[..., self.ww - n:] = 0
        self.c0 = upto


def segment_array(model: nn.Module, image: np.ndarray, **kwargs) -> np.ndarray:
    """Class indices [H, W] (uint8) of a whole in-memory image (see :func:`iter_bands` for the options)."""
    return np.concatenate([labels for _, labels in iter_class_bands(model, image, **kwargs)])
