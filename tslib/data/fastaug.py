"""The study's augmentation as one affine warp: the fast training path.

The study's geometry (resize, random crop, rotation, flips, random resized crop) is a chain of affine maps, so
one ``cv2.warpAffine`` from the random-crop window to the output does what five torchvision steps do, each of
which resamples the whole image. :class:`StudyAugment` draws its random numbers exactly as the torchvision v2
pipeline (:func:`tslib.data.transforms.train_transform`) does, in the same order from the same torch RNG, so
under one seed both see the same crops, angles, flips and brightness; they differ only in resampling (one
bilinear warp instead of a nearest-neighbour rotation followed by a bilinear resize). Measured on 2 CPU cores:
about 4x faster per image than the v2 pipeline (``python benchmarks/data_path.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from ..imagenet import IMAGENET_MEAN, IMAGENET_STD
from .transforms import STUDY_CROP, STUDY_SIZE, eval_transform, interpolation_mode

_RATIO = (3 / 4, 4 / 3)  # RandomResizedCrop's default aspect-ratio range
_SCALE = (0.8, 1.0)


def _uniform(lo: float, hi: float) -> float:
    return torch.empty(1).uniform_(lo, hi).item()


def _resized_crop_box(height: int, width: int) -> tuple[int, int, int, int]:
    """(top, left, h, w) drawn as ``v2.RandomResizedCrop(scale=(0.8, 1))`` draws them."""
    area, log_ratio = height * width, (math.log(_RATIO[0]), math.log(_RATIO[1]))
    for _ in range(10):
        target = area * _uniform(*_SCALE)
        aspect = math.exp(_uniform(*log_ratio))
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top, left = torch.randint(0, height - h + 1, size=(1,)), torch.randint(0, width - w + 1, size=(1,))
            return int(top), int(left), h, w
    return 0, 0, height, width  # square input: the whole image (v2's fallback)


class StudyAugment:
    """Resize (shorter side ``size``), random crop ``size * 125/150``, rotation +-45, h-flip 0.5, v-flip 0.05,
    random resized crop ``size`` (scale 0.8-1), brightness +-0.4, float + normalisation: on sample dicts whose
    ``image`` is a uint8 CHW tensor, like :func:`~tslib.data.transforms.train_transform`."""

    def __init__(self, size: int = STUDY_SIZE, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, interpolation: str = "bilinear") -> None:
        self.size, self.crop = size, round(size * STUDY_CROP / STUDY_SIZE)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1) * 255
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1) * 255
        self.interpolation = interpolation

    def __repr__(self) -> str:
        return f"StudyAugment(size={self.size}, crop={self.crop}, interpolation={self.interpolation!r})"

    def draw_warp(self, crop: int) -> tuple[np.ndarray, float]:
        """Draw one image's random warp: the forward affine map from the crop window to the output, and the
        brightness factor (the device path draws through this too, so both see the same numbers)."""
        import cv2

        angle = _uniform(-45.0, 45.0)
        hflip, vflip = bool(torch.rand(1) < 0.5), bool(torch.rand(1) < 0.05)
        top, left, h, w = _resized_crop_box(crop, crop)
        torch.randperm(4)  # ColorJitter draws its order first: kept so both pipelines stay in step
        brightness = _uniform(0.6, 1.4)
        centre = (crop - 1) / 2
        rotate = np.vstack([cv2.getRotationMatrix2D((centre, centre), angle, 1.0), [0, 0, 1]])
        flip = np.diag([-1.0 if hflip else 1.0, -1.0 if vflip else 1.0, 1.0])
        flip[:2, 2] = [crop - 1 if hflip else 0, crop - 1 if vflip else 0]
        sx, sy = self.size / w, self.size / h  # pixel centres: u = (x - left + 0.5) * sx - 0.5
        resize = np.array([[sx, 0, (0.5 - left) * sx - 0.5], [0, sy, (0.5 - top) * sy - 0.5], [0, 0, 1]])
        return (resize @ flip @ rotate)[:2], brightness

    def __call__(self, sample: dict) -> dict:
        import cv2

        # No cv2.setNumThreads here: called in a forked DataLoader worker after the parent used OpenCV, it waits
        # forever for the parent's thread pool (measured: a hang); a 150 px warp hardly uses the pool anyway.
        image = torch.as_tensor(sample["image"])
        if min(image.shape[-2:]) != self.size:  # the pipeline's first step (a no-op for decode-cached images)
            image = F.resize(image, self.size, interpolation=interpolation_mode(self.interpolation), antialias=True)
        height, width = image.shape[-2:]
        top = int(torch.randint(0, height - self.crop + 1, size=())) if height > self.crop else 0
        left = int(torch.randint(0, width - self.crop + 1, size=())) if width > self.crop else 0
        # HWC view: no copy when the image was decoded as HWC (tslib's datasets do), cv2 reads the window in place
        window = image.permute(1, 2, 0)[top:top + self.crop, left:left + self.crop].numpy()
        if window.strides[1:] != (window.shape[2], 1):
            window = np.ascontiguousarray(window)
        matrix, brightness = self.draw_warp(self.crop)
        out = cv2.warpAffine(window, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        out = cv2.convertScaleAbs(out, alpha=brightness)  # ColorJitter's brightness, saturated at 255 (rounded)
        x = torch.from_numpy(out.reshape(self.size, self.size, -1)).permute(2, 0, 1).float()
        return {**sample, "image": tv_tensors.Image(x.sub_(self.mean).div_(self.std))}


def transforms_for(prep: dict, train: bool = False):
    """Train or eval transform from a preprocessing dict (``size``, ``resize_size``, ``mean``, ``std``,
    ``interpolation``), as :func:`tslib.classify.preprocessing` returns and run folders store. Training uses
    :class:`StudyAugment`, :func:`train_transform`'s augmentation in one affine warp."""
    interp = prep.get("interpolation", "bilinear")
    if train:
        return StudyAugment(prep["size"], prep["mean"], prep["std"], interp)
    return eval_transform(prep["size"], prep["mean"], prep["std"], prep["resize_size"], interp)
