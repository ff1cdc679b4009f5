"""Whole-image segmentation by sliding windows: overlapping windows at native scale, their logits blended with a
Gaussian weight (centres count most, so tile seams do not show), produced as bands of finished rows.

Only one band of windows is in memory at a time: the running sums cover ``window`` rows, and rows that no later
window touches are handed on (to :class:`~tslib.data.pngstream.PngWriter` in :func:`segment_file`) and dropped.
A striped or tiled TIFF (orthophotos) is read band by band too (:mod:`tslib.data.bigimage`), so memory stays flat
however large the image; other formats are decoded once as uint8 (3 bytes a pixel).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ...data.bigimage import open_rows
from ...data.pngstream import PngWriter
from ...data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ...engine.inference import flip_tta
from ...engine.precision import autocast
from ...errors import check_out_dir
from ...utils import atomic_write_text


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
def iter_bands(model: nn.Module, image, window: int = 512, overlap: float = 0.25, batch_size: int = 4,
               tta: bool = False, device: str | torch.device = "cpu", margin: int = 8) -> Iterator[tuple[int, Tensor]]:
    """``(top, logits)`` for consecutive bands of rows of ``image`` (uint8 [H, W, 3], an array or a band reader
    such as :class:`~tslib.data.bigimage.TiffRows`, read top to bottom): ``logits`` is the blended
    fp32 [C, h, W] of rows ``top..top+h``; bands come in order and cover every row once. Each window is mirrored
    ``margin`` pixels outwards before the forward pass (and cropped back), so the image's own border rows are not
    predicted from convolution zero-padding."""
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

    acc = wsum = None
    for i, y in enumerate(ys):
        top = y  # every row above y is finished and handed on
        rows = np.asarray(image[y:y + wh])  # one read per window row (an on-demand TIFF decodes its strips here)
        for k in range(0, len(xs), batch_size):
            chunk = xs[k:k + batch_size]
            batch = torch.stack([torch.from_numpy(np.ascontiguousarray(rows[:, x:x + ww])) for x in chunk])
            batch = (batch.to(device).permute(0, 3, 1, 2).float() - mean) / std
            logits = flip_tta(forward, batch, dense=True) if tta else forward(batch)
            if acc is None:
                acc = torch.zeros(logits.shape[1], wh, width, device=device)
                wsum = torch.zeros(wh, width, device=device)
            for x, out in zip(chunk, logits):
                acc[:, :, x:x + ww] += out * weight
                wsum[:, x:x + ww] += weight
        done = (ys[i + 1] if i + 1 < len(ys) else height) - top
        yield top, (acc[:, :done] / wsum[:done]).cpu()
        if i + 1 < len(ys):  # shift the running sums up by `done` rows, in place; the new rows start empty
            keep = acc.shape[1] - done  # the overlap: copied, not the whole buffer
            acc[:, :keep] = acc[:, done:].clone()
            acc[:, keep:] = 0
            wsum[:keep] = wsum[done:].clone()
            wsum[keep:] = 0


def segment_array(model: nn.Module, image: np.ndarray, **kwargs) -> np.ndarray:
    """Class indices [H, W] (uint8) of a whole in-memory image (see :func:`iter_bands` for the options)."""
    return np.concatenate([band.argmax(0).to(torch.uint8).numpy() for _, band in iter_bands(model, image, **kwargs)])


def colourize(classes: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """[H, W] class indices -> [H, W, 3] palette colours (values past the palette are black)."""
    table = np.zeros((256, 3), np.uint8)
    table[: len(colours)] = np.asarray(colours, np.uint8)
    return table[classes]


def segment_file(model: nn.Module, image_path: str | Path, out_dir: str | Path, classes: Sequence[str],
                 colours: np.ndarray, alpha: float = 0.45, **kwargs) -> dict:
    """Segment one image file into ``out_dir``: ``<stem>_classes.png`` (class indices), ``<stem>_colour.png``
    (the palette) and ``<stem>_overlay.png`` (palette over the image); returns sizes, paths and class shares."""
    image_path, out_dir = Path(image_path), Path(out_dir)
    if not image_path.is_file():
        raise FileNotFoundError(f"{image_path}: no such image")
    image = open_rows(image_path)  # a striped/tiled TIFF is decoded band by band, other formats whole
    try:
        return _segment_into(model, image, image_path, out_dir, classes, colours, alpha, **kwargs)
    finally:
        if hasattr(image, "close"):
            image.close()


def _segment_into(model: nn.Module, image, image_path: Path, out_dir: Path, classes: Sequence[str],
                  colours: np.ndarray, alpha: float, **kwargs) -> dict:
    import cv2

    check_out_dir(out_dir).mkdir(parents=True, exist_ok=True)
    height, width = image.shape[:2]
    stem = image_path.stem
    paths = {k: out_dir / f"{stem}_{k}.png" for k in ("classes", "colour", "overlay")}
    writers = {"classes": PngWriter(paths["classes"], width, height, 1),
               "colour": PngWriter(paths["colour"], width, height, 3),
               "overlay": PngWriter(paths["overlay"], width, height, 3)}
    counts = np.zeros(256, np.int64)
    try:
        for top, band in iter_bands(model, image, **kwargs):
            labels = band.argmax(0).to(torch.uint8).numpy()
            colour = colourize(labels, colours)
            rows = np.ascontiguousarray(image[top:top + len(labels)])
            writers["classes"].write(labels)
            writers["colour"].write(colour)
            # uint8 in, uint8 out (rounded, saturated): no float copies of the band
            writers["overlay"].write(cv2.addWeighted(rows, 1 - alpha, colour, alpha, 0.0))
            counts += np.bincount(labels.ravel(), minlength=256)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    for w in writers.values():
        w.close()
    shares = {c: float(counts[i] / counts.sum()) for i, c in enumerate(classes)}
    return {"image": str(image_path), "width": width, "height": height,
            "files": {k: str(p) for k, p in paths.items()}, "class_share": shares,
            "colours": np.asarray(colours).tolist()}


def write_summary(results: list[dict], out_dir: str | Path) -> Path:
    """``segment.json`` in ``out_dir``: one entry per image (size, files, class shares)."""
    path = Path(out_dir) / "segment.json"
    atomic_write_text(path, json.dumps(results, indent=2))
    return path
