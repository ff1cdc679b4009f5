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

    def __call__(self, images: Tensor | Sequence[Tensor], sizes: Sequence[tuple[int, int]] | None = None) -> Tensor:
        """Augment uint8 images: a list of ``[3, h, w]`` of any sizes, or a ``[B, 3, H, W]`` batch (padded, with
        each image's own ``sizes``)."""
        sizes = sizes or [tuple(img.shape[-2:]) for img in images]
        corners, theta, gain = self.draws(sizes)
        c = self.crop
        windows = torch.stack([img[:, y:y + c, x:x + c] for img, (y, x) in zip(images, corners)])
        return self.warp(windows, theta, gain)

    def warp(self, windows: Tensor, theta: Tensor, gain: Tensor) -> Tensor:
        """The drawn warps and brightness on uint8 crop windows ``[B, 3, crop, crop]`` -> normalised float."""
        windows = windows.float()
        grid = F.affine_grid(theta.to(windows.device), [len(windows), 3, self.size, self.size], align_corners=False)
        out = F.grid_sample(windows, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # cv2.warpAffine rounds to uint8, then convertScaleAbs scales by the brightness and saturates at 255
        out = (out.round() * gain.to(out.device).view(-1, 1, 1, 1)).round().clamp_(0, 255)
        mean, std = self.cpu.mean.to(out.device), self.cpu.std.to(out.device)
        return out.sub_(mean).div_(std)


class StoreTooLarge(RuntimeError):
    """The training images fit neither on the GPU nor in pinned host memory within their ceilings."""


class PackedImages:
    """uint8 images of any sizes in one flat buffer, each at its own size (HWC order, as decoded images are), no
    padding: ``nbytes`` is the sum of ``3 * h * w``. ``windows`` cuts a batch of crop windows, on the device the
    buffer lives on, or into pinned staging memory that is then copied asynchronously."""

    def __init__(self, images: Sequence[Tensor], device: torch.device | str = "cpu", pin: bool = False) -> None:
        self.sizes = [tuple(img.shape[-2:]) for img in images]
        counts = [3 * h * w for h, w in self.sizes]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        buffer = torch.empty(int(self.offsets[-1]), dtype=torch.uint8, pin_memory=pin)
        for img, start, (h, w) in zip(images, self.offsets, self.sizes):
            buffer[int(start):int(start) + 3 * h * w].view(h, w, 3).copy_(img.permute(1, 2, 0))
        self.buffer = buffer if torch.device(device).type == "cpu" else buffer.to(device)
        self.pinned = pin and self.buffer.device.type == "cpu"

    @property
    def nbytes(self) -> int:
        return int(self.offsets[-1])

    def __len__(self) -> int:
        return len(self.sizes)

    def image(self, i: int) -> Tensor:
        """Image ``i`` as uint8 ``[3, h, w]`` (a view of the buffer)."""
        h, w = self.sizes[i]
        start = int(self.offsets[i])
        return self.buffer[start:start + 3 * h * w].view(h, w, 3).permute(2, 0, 1)

    def windows(self, indices: Sequence[int], corners: Sequence[tuple[int, int]], size: int,
                device: torch.device) -> Tensor:
        """uint8 ``[B, 3, size, size]`` windows at ``corners`` of images ``indices``, on ``device``."""
        views = [self.image(i)[:, y:y + size, x:x + size] for i, (y, x) in zip(indices, corners)]
        if not self.pinned:
            return torch.stack(views).to(device, non_blocking=True)
        # Gathered into pinned staging memory, so the copy is a real asynchronous DMA (indexing a pinned tensor
        # gives pageable memory); the caching host allocator reuses the block once its copy has completed.
        staged = torch.empty((len(views), 3, size, size), dtype=torch.uint8, pin_memory=True)
        torch.stack(views, out=staged)
        return staged.to(device, non_blocking=True)


def store_placement(nbytes: int, device: torch.device, gpu_free: int | None = None,
                    host_available: int | None = None) -> str:
    """Where ``nbytes`` of training images go: "device" (within :data:`~.memory.DEVICE_SHARE` of the free GPU
    memory; any non-CUDA device takes them as they are), "pinned" (within :data:`~.memory.PINNED_SHARE` of the
    available host RAM), else :class:`StoreTooLarge`."""
    from .memory import DEVICE_SHARE, PINNED_SHARE, fits, gib

    if device.type != "cuda":
        return "device"
    gpu_free = _free_bytes(device) if gpu_free is None else gpu_free
    if nbytes <= DEVICE_SHARE * gpu_free:
        return "device"
    if fits(nbytes, PINNED_SHARE, host_available):
        return "pinned"
    raise StoreTooLarge(f"the training images take {gib(nbytes)}: more than {DEVICE_SHARE:.0%} of the GPU's "
                        f"{gib(gpu_free)} free and more than {PINNED_SHARE:.0%} of the host RAM available")


class DeviceLoader:
    """Training batches of a decode-cached dataset augmented on ``device``, in ``loader``'s order (its sampler,
    re-seeded by the engine each epoch, so weighted sampling, torchrun shards and exact resume work as with the
    loader itself). Yields ``{"image", "label"}`` on the device.

    The images are packed at the training scale (:class:`PackedImages`), on the GPU when they fit its ceiling,
    else in pinned host memory (:func:`store_placement`); :class:`StoreTooLarge` otherwise, and the caller keeps
    the CPU loader."""

    def __init__(self, loader: torch.utils.data.DataLoader, device: torch.device,
                 gpu_free: int | None = None, host_available: int | None = None) -> None:
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
        nbytes = sum(3 * img.shape[1] * img.shape[2] for img in cached)
        self.placement = store_placement(nbytes, device, gpu_free, host_available)
        self.store = PackedImages(cached, device if self.placement == "device" else "cpu",
                                  pin=self.placement == "pinned")
        self.labels = torch.as_tensor(ds.targets)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict]:
        for indices in self.batch_sampler:
            corners, theta, gain = self.augment.draws([self.store.sizes[i] for i in indices])
            windows = self.store.windows(indices, corners, self.augment.crop, self.device)
            yield {"image": self.augment.warp(windows, theta, gain),
                   "label": self.labels[torch.as_tensor(indices)].to(self.device, non_blocking=True)}


def _free_bytes(device: torch.device) -> int:
    free, _ = torch.cuda.mem_get_info(device)
    return int(free)
