"""The study's augmentation on whole batches on the device, fed from images decoded once: the GPU training path.

On a Colab GPU with 2 vCPUs the per-image CPU path (:class:`~tslib.data.fastaug.StudyAugment` in DataLoader
workers) cannot keep up. Here the decode cache's uint8 images are moved to the device once (pinned host memory
when they do not fit), and each batch is augmented there: one ``affine_grid``/``grid_sample`` warp for the
random crop, rotation, flips and random resized crop together, then brightness and normalisation. The random
numbers are drawn exactly as :class:`StudyAugment` draws them, per image and in the same order from the same
torch RNG, so under one seed both paths see the same crops, angles, flips and brightness (tested); the CPU does
nothing per image after the first epoch but draw those numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .fastaug import StudyAugment


def _pixel_to_norm(n: int) -> np.ndarray:
    """Pixel coordinate -> grid_sample's [-1, 1] (align_corners=False: pixel centres at (2i + 1) / n - 1)."""
    return np.array([[2.0 / n, 0, 1.0 / n - 1], [0, 2.0 / n, 1.0 / n - 1], [0, 0, 1]])


class DeviceAugment:
    """:class:`StudyAugment` for a batch: uint8 ``[B, 3, H, W]`` images whose shorter side is ``size`` (the decode
    cache's scale; ``sizes`` gives each image's own (H, W) when they are padded to one shape) -> normalised float
    ``[B, 3, size, size]`` on the images' device."""

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float], interpolation: str = "bilinear"):
        self.cpu = StudyAugment(size, mean, std, interpolation)  # its draws, crop size and constants
        self.size, self.crop = self.cpu.size, self.cpu.crop

    def draws(self, sizes: Sequence[tuple[int, int]]) -> tuple[list[tuple[int, int]], Tensor, Tensor]:
        """Per image, in StudyAugment's order: the crop window's corner, then the warp and brightness."""
        corners, thetas, gains = [], [], []
        to_norm_in, to_pix_out = _pixel_to_norm(self.crop), np.linalg.inv(_pixel_to_norm(self.size))
        for height, width in sizes:
            top = int(torch.randint(0, height - self.crop + 1, size=())) if height > self.crop else 0
            left = int(torch.randint(0, width - self.crop + 1, size=())) if width > self.crop else 0
            matrix, brightness = self.cpu.draw_warp(self.crop)  # forward map: window pixel -> output pixel
            inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))  # grid_sample asks, per output pixel, where from
            thetas.append((to_norm_in @ inverse @ to_pix_out)[:2])
            corners.append((top, left))
            gains.append(brightness)
        return corners, torch.tensor(np.stack(thetas), dtype=torch.float32), torch.tensor(gains)

    def __call__(self, images: Tensor, sizes: Sequence[tuple[int, int]] | None = None) -> Tensor:
        sizes = sizes or [tuple(images.shape[-2:])] * len(images)
        corners, theta, gain = self.draws(sizes)
        c = self.crop
        windows = torch.stack([img[:, y:y + c, x:x + c] for img, (y, x) in zip(images, corners)]).float()
        grid = F.affine_grid(theta.to(images.device), [len(images), 3, self.size, self.size], align_corners=False)
        out = F.grid_sample(windows, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # cv2.warpAffine rounds to uint8, then convertScaleAbs scales by the brightness and saturates at 255
        out = (out.round() * gain.to(out.device).view(-1, 1, 1, 1)).round().clamp_(0, 255)
        mean, std = self.cpu.mean.to(out.device), self.cpu.std.to(out.device)
        return out.sub_(mean).div_(std)


class DeviceLoader:
    """Training batches of a decode-cached dataset augmented on ``device``, in ``loader``'s order (its sampler,
    re-seeded by the engine each epoch, so weighted sampling, torchrun shards and exact resume work as with the
    loader itself). Yields ``{"image", "label"}`` on the device."""

    def __init__(self, loader: torch.utils.data.DataLoader, device: torch.device,
                 budget_bytes: int | None = None) -> None:
        ds = loader.dataset
        if not getattr(ds, "decode_cache", None) or not isinstance(getattr(ds, "transforms", None), StudyAugment):
            raise ValueError("the device augmentation path needs a decode-cached training set with the study's "
                             "augmentation (--decode-cache, --augment)")
        cached = ds.cached_images()
        tf: StudyAugment = ds.transforms
        self.loader, self.device = loader, device
        self.sampler, self.batch_sampler, self.generator = loader.sampler, loader.batch_sampler, loader.generator
        self.augment = DeviceAugment(tf.size, (tf.mean.view(-1) / 255).tolist(), (tf.std.view(-1) / 255).tolist(),
                                     tf.interpolation)
        self.sizes = [tuple(img.shape[-2:]) for img in cached]
        h, w = max(s[0] for s in self.sizes), max(s[1] for s in self.sizes)
        bank = torch.zeros(len(self.sizes), 3, h, w, dtype=torch.uint8)
        for i, img in enumerate(cached):  # padded to one shape: windows are cut inside each image's own size
            bank[i, :, :img.shape[1], :img.shape[2]] = img
        if device.type == "cuda":  # on the GPU when it fits in half the free memory, else pinned for fast copies
            fits = bank.numel() < (budget_bytes or _free_bytes(device) // 2)
            self.bank = bank.to(device) if fits else bank.pin_memory()
        else:  # pinning only helps CUDA copies; other devices (mps, xpu) take the bank as it is
            self.bank = bank.to(device)
        self.resident = self.bank.device.type == device.type
        self.labels = torch.as_tensor(ds.targets)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict]:
        for indices in self.batch_sampler:
            idx = torch.as_tensor(indices)
            images = self.bank[idx.to(self.bank.device)].to(self.device, non_blocking=True)
            yield {"image": self.augment(images, [self.sizes[i] for i in indices]),
                   "label": self.labels[idx].to(self.device, non_blocking=True)}


def _free_bytes(device: torch.device) -> int:
    free, _ = torch.cuda.mem_get_info(device)
    return int(free)
