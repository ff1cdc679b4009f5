"""Segmentation data: Landcover.ai tiles by their split lists, or a user's folder of images and masks (matched by
file stem, seeded split), with joint image/mask augmentation (torchvision.transforms.v2 + tv_tensors.Mask)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from ...data.datasets import split_limit
from ...data.imageio import is_hidden, is_image_name, load_rgb
from ...data.landcover import CLASSES as LANDCOVER_CLASSES
from ...data.landcover import PALETTE as LANDCOVER_PALETTE
from ...data.landcover import find_landcover_root
from ...data.manifest import hash_split
from ...data.masks import load_mask, parse_palette
from ...data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ...errors import MissingFilesError

SPLITS = ("train", "val", "test")


def segmentation_transform(size: int, train: bool = False) -> v2.Compose:
    """Joint transforms: masks follow every geometric step with nearest interpolation; colour only on images."""
    if train:
        geo = [v2.RandomResizedCrop(size, scale=(0.35, 1.0), antialias=True), v2.RandomHorizontalFlip(),
               v2.RandomVerticalFlip(), v2.RandomChoice([v2.RandomRotation((a, a)) for a in (0, 90, 180, 270)]),
               v2.ColorJitter(0.2, 0.2, 0.2, 0.02)]
    else:
        geo = [v2.Resize(size, antialias=True), v2.CenterCrop(size)]
    return v2.Compose([*geo, v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
                       v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


class SegmentationDataset(Dataset):
    """``{"image": float [3, H, W], "mask": long [H, W], "path"}`` samples of one split.

    Either ``landcover=DIR`` (tiles in ``DIR/output`` listed in ``DIR/<split>.txt``) or ``images=DIR, masks=DIR``
    (pairs by file stem; ``palette`` for colour masks; a seeded 70/15/15 split by file name).
    """

    def __init__(self, split: str = "train", transforms=None, *, landcover: str | Path | None = None,
                 images: str | Path | None = None, masks: str | Path | None = None,
                 palette: str | Path | dict | None = None, ignore_index: int | None = None,
                 limit: int | None = None, seed: int = 0) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.split, self.transforms, self.ignore_index = split, transforms, ignore_index
        self.palette = None
        if landcover is not None:
            self.pairs = self._landcover_pairs(find_landcover_root(landcover), split)
            self.classes, self.colours = list(LANDCOVER_CLASSES), np.asarray(LANDCOVER_PALETTE, np.uint8)
        else:
            self.pairs = self._folder_pairs(Path(images), Path(masks), split, seed)
            if palette is not None:
                self.classes, self.palette = parse_palette(palette)
                self.colours = self.palette
            else:
                self.classes, self.colours = None, None  # set by the caller from the training masks
        limit = split_limit(split, limit)
        self.pairs = self.pairs[:limit] if limit else self.pairs
        if not self.pairs:
            raise ValueError(f"the {split} split is empty")

    @staticmethod
    def _landcover_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
        listing = root / f"{split}.txt"
        if not listing.is_file():
            raise MissingFilesError(f"{listing} not found: the lists decide the Landcover.ai split")
        names = [n.strip() for n in listing.read_text().splitlines() if n.strip()]
        pairs = [(root / "output" / f"{n}.jpg", root / "output" / f"{n}_m.png") for n in names]
        pairs = [(i, m) for i, m in pairs if i.is_file() and m.is_file()]
        if not pairs:
            raise MissingFilesError(f"no {split} tiles in {root / 'output'}: run `python -m tslib prepare-landcover "
                                    f"--root {root}` first")
        return pairs

    @staticmethod
    def _folder_pairs(images: Path, masks: Path, split: str, seed: int) -> list[tuple[Path, Path]]:
        for d, flag in ((images, "--images"), (masks, "--masks")):
            if not d.is_dir():
                raise MissingFilesError(f"{flag} {d} is not a folder")
        imgs = {p.stem: p for p in sorted(images.rglob("*")) if p.is_file() and is_image_name(p)
                and not is_hidden(p.relative_to(images))}
        msks = {p.stem: p for p in sorted(masks.rglob("*")) if p.is_file() and is_image_name(p)
                and not is_hidden(p.relative_to(masks))}
        lonely = sorted(set(imgs) - set(msks))
        if lonely:
            raise MissingFilesError(f"{len(lonely)} images have no mask of the same name in {masks}: "
                                    + ", ".join(str(imgs[s].name) for s in lonely[:3]))
        if not imgs:
            raise MissingFilesError(f"no images in {images}")
        return [(imgs[s], msks[s]) for s in sorted(imgs) if hash_split(s, seed) == split]

    def __len__(self) -> int:
        return len(self.pairs)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(RGB uint8 [H, W, 3], class indices [H, W]) of pair ``index``, checked."""
        image_path, mask_path = self.pairs[index]
        image = np.asarray(load_rgb(image_path))
        n = len(self.classes) if self.classes else 256
        mask = load_mask(mask_path, n, self.palette, self.ignore_index)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, image is "
                             f"{image.shape[1]}x{image.shape[0]}")
        return image, mask

    def __getitem__(self, index: int) -> dict:
        image, mask = self.read(index)
        sample = {"image": tv_tensors.Image(torch.from_numpy(image.copy()).permute(2, 0, 1)),
                  "mask": tv_tensors.Mask(torch.from_numpy(mask))}
        if self.transforms is not None:
            sample = self.transforms(sample)
        return {"image": sample["image"].as_subclass(torch.Tensor),
                "mask": sample["mask"].as_subclass(torch.Tensor).long(), "path": str(self.pairs[index][0])}

    def class_pixels(self) -> np.ndarray:
        """Pixels per class over the split (reads every mask: also validates them up front)."""
        counts = np.zeros(len(self.classes), np.int64)
        for i in range(len(self)):
            m = self.read(i)[1]
            m = m[m != self.ignore_index] if self.ignore_index is not None else m
            counts += np.bincount(m.ravel(), minlength=len(self.classes))[: len(self.classes)]
        return counts


def config_dataset(cfg, split: str, train: bool = False, classes: list[str] | None = None) -> SegmentationDataset:
    """One split of a ``SegmentConfig``'s data, with its transforms (augmentation only for ``train``)."""
    tf = segmentation_transform(cfg.img_size, train and cfg.augment)
    ds = SegmentationDataset(split, tf, landcover=cfg.landcover, images=cfg.images, masks=cfg.masks,
                             palette=cfg.palette, ignore_index=cfg.ignore_index, limit=cfg.limit_tiles,
                             seed=cfg.train.seed)
    if ds.classes is None:
        ds.classes = classes
    return ds


def infer_classes(ds: SegmentationDataset) -> list[str]:
    """Class names of index masks without a palette: 0..the largest value in the training masks."""
    ds.classes = [str(c) for c in range(256)]  # accept any 8-bit value while scanning
    top = 0
    for i in range(len(ds)):
        m = ds.read(i)[1]
        valid = m[m != ds.ignore_index] if ds.ignore_index is not None else m
        top = max(top, int(valid.max()) if valid.size else 0)
    return [str(c) for c in range(top + 1)]
