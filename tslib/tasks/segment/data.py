"""Segmentation data: Landcover.ai tiles by their split lists, or a user's folder of images and masks (matched by
file stem, seeded split, large images cut into tiles), with joint image/mask augmentation
(torchvision.transforms.v2 + tv_tensors.Mask).

Models train and predict at the data's native resolution: training takes random crops (with scale jitter around
1), evaluation sees whole tiles. Whole-image inference (:mod:`.sliding`) then runs at the scale the model learnt.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from ...data.imageio import ImageReadError, is_hidden, is_image_name, load_rgb
from ...data.landcover import CLASSES as LANDCOVER_CLASSES
from ...data.landcover import PALETTE as LANDCOVER_PALETTE
from ...data.landcover import find_landcover_root
from ...data.manifest import hash_split
from ...data.masks import load_mask, parse_palette
from ...errors import MissingFilesError
from ...imagenet import IMAGENET_MEAN, IMAGENET_STD

SPLITS = ("train", "val", "test")
#: Mask value of padding (and of nothing else) when no ignore value is set: never a class (classes are < 255).
PAD_INDEX = 255


def fill_index(ignore_index: int | None) -> int:
    """The label that padding gets and that loss and metrics skip: the ignore value, else :data:`PAD_INDEX`."""
    return PAD_INDEX if ignore_index is None else ignore_index


def segmentation_transform(size: int, train: bool = False, fill: int = PAD_INDEX) -> v2.Compose:
    """Joint transforms: masks follow every geometric step with nearest interpolation; colour only on images.

    Training: a random ``size`` crop at 0.8-1.25x the native scale, flips, 90-degree rotations, colour jitter.
    Evaluation: nothing geometric (whole tiles at native scale). Padding is labelled ``fill`` (ignored)."""
    steps: list = []
    if train:
        big = math.ceil(size * 1.25)  # scaled by >= 0.8 this still covers the final crop: no padding inside it
        fills = {tv_tensors.Image: 0, tv_tensors.Mask: fill}
        steps = [v2.RandomCrop(big, pad_if_needed=True, fill=fills),
                 v2.RandomAffine(degrees=0, scale=(0.8, 1.25), fill=fills), v2.CenterCrop(size),
                 v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
                 v2.RandomChoice([v2.RandomRotation((a, a)) for a in (0, 90, 180, 270)]),
                 v2.ColorJitter(0.2, 0.2, 0.2, 0.02)]
    return v2.Compose([*steps, v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
                       v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


class SegmentationDataset(Dataset):
    """``{"image": float [3, H, W], "mask": long [H, W], "path"}`` samples of one split.

    Either ``landcover=DIR`` (tiles in ``DIR/output`` listed in ``DIR/<split>.txt``) or ``images=DIR, masks=DIR``
    (pairs by file stem; ``palette`` for colour masks; a seeded 70/15/15 split by file name, so all tiles of one
    image share a split). Folder images are cut into a grid of ``tile``-pixel tiles (smaller images are one
    tile); edge tiles are padded with the ignored label, so every pixel is scored exactly once.
    """

    def __init__(self, split: str = "train", transforms=None, *, landcover: str | Path | None = None,
                 images: str | Path | None = None, masks: str | Path | None = None,
                 palette: str | Path | dict | None = None, ignore_index: int | None = None,
                 limit: int | None = None, seed: int = 0, tile: int = 512) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.split, self.transforms, self.ignore_index = split, transforms, ignore_index
        self.fill, self.palette, self._cache = fill_index(ignore_index), None, (None, None)
        if landcover is not None:
            pairs = self._landcover_pairs(find_landcover_root(landcover), split)
            self.items = [(i, m, None) for i, m in pairs]
            self.classes, self.colours = list(LANDCOVER_CLASSES), np.asarray(LANDCOVER_PALETTE, np.uint8)
        else:
            self.items = self._tiles(self._folder_pairs(Path(images), Path(masks), split, seed), tile)
            if palette is not None:
                self.classes, self.palette = parse_palette(palette)
                self.colours = self.palette
            else:
                self.classes, self.colours = None, None  # set by the caller from the training masks
        if limit and split != "test":  # the test split is always complete, so test numbers stay comparable
            self.items = self.items[:limit]
        if not self.items:
            raise ValueError(f"the {split} split is empty")
        self._samples: list[tuple[np.ndarray, np.ndarray] | None] = []  # the decode cache (:meth:`warm_cache`)

    def decoded_bytes(self) -> int:
        """About how many bytes every sample of the split takes decoded (uint8 image and mask, before transforms),
        from the headers of a sample of its files."""
        from ...data.memory import header_sizes

        boxes = {box[2] for _, _, box in self.items if box is not None}
        if boxes:
            return len(self.items) * 4 * max(boxes) ** 2
        sizes = header_sizes([i for i, _, _ in self.items])
        return int(len(self.items) * 4 * sum(w * h for w, h in sizes) / max(1, len(sizes)))

    def warm_cache(self, progress: bool = False) -> None:
        """Decode every sample once into memory (image and mask as uint8), here, before the loader's workers
        start, so that they share it: later epochs decode nothing."""
        from ...utils import progress_bar

        if self.fill > 255 or (self.classes and len(self.classes) > 256):
            return  # labels that need more than a byte: not cached
        samples = []
        for i in progress_bar(range(len(self)), f"decoding {self.split} tiles once", progress):
            image, mask = self.read(i)
            samples.append((image, mask.astype(np.uint8)))
        self._samples = samples
        self._cache = (None, None)

    @staticmethod
    def _landcover_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
        listing = root / f"{split}.txt"
        if not listing.is_file():
            raise MissingFilesError(f"{listing} not found: the lists decide the Landcover.ai split")
        names = [n.strip() for n in listing.read_text().splitlines() if n.strip()]
        if not names:
            raise ValueError(f"the {split} split is empty: {listing} lists no tiles")
        pairs = [(root / "output" / f"{n}.jpg", root / "output" / f"{n}_m.png") for n in names]
        missing = [p.name for pair in pairs for p in pair if not p.is_file()]
        if len(missing) == 2 * len(pairs):
            raise MissingFilesError(f"no {split} tiles in {root / 'output'}: run `python -m tslib prepare-landcover "
                                    f"--data {root}` first")
        if missing:  # a split silently smaller than its list would make scores incomparable with everyone else's
            raise MissingFilesError(f"{len(missing)} files of the {len(names)} {split} tiles listed in {listing.name} "
                                    f"are missing from {root / 'output'} (e.g. {', '.join(missing[:2])}): re-run "
                                    f"`python -m tslib prepare-landcover --data {root}`, which recreates them")
        return pairs

    @staticmethod
    def _folder_pairs(images: Path, masks: Path, split: str, seed: int) -> list[tuple[Path, Path]]:
        for d, flag in ((images, "--images"), (masks, "--masks")):
            if not d.is_dir():
                raise MissingFilesError(f"{flag} {d} is not a folder")

        def index(d: Path) -> dict[str, Path]:
            return {p.stem: p for p in sorted(d.rglob("*")) if p.is_file() and is_image_name(p)
                    and not is_hidden(p.relative_to(d))}

        imgs, msks = index(images), index(masks)
        lonely = sorted(set(imgs) - set(msks))
        if lonely:
            raise MissingFilesError(f"{len(lonely)} images have no mask of the same name in {masks}: "
                                    + ", ".join(str(imgs[s].name) for s in lonely[:3]))
        if not imgs:
            raise MissingFilesError(f"no images in {images}")
        return [(imgs[s], msks[s]) for s in sorted(imgs) if hash_split(s, seed) == split]

    @staticmethod
    def _tiles(pairs: list[tuple[Path, Path]], tile: int) -> list[tuple[Path, Path, tuple[int, int, int]]]:
        """(image, mask, (top, left, size)) for a grid over each image; the size is the same for all samples
        (``tile``, or the largest image side when every image is smaller) so batches stack."""
        sizes = []
        for image, _ in pairs:
            try:
                with Image.open(image) as im:
                    sizes.append(im.size)
            except (OSError, SyntaxError, ValueError) as e:
                raise ImageReadError(f"{image}: not a readable image ({e})") from e
        side = min(tile, max((max(s) for s in sizes), default=tile))
        return [(i, m, (y, x, side)) for (i, m), (w, h) in zip(pairs, sizes)
                for y in range(0, h, side) for x in range(0, w, side)]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def pairs(self) -> list[tuple[Path, Path]]:
        """The (image, mask) files of the split, each once."""
        return list(dict.fromkeys((i, m) for i, m, _ in self.items))

    def read_pair(self, image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
        """(RGB uint8 [H, W, 3], class indices [H, W]) of one file pair, checked. The last pair is cached, so the
        tiles of one large image (consecutive at evaluation) decode it once."""
        key = (image_path, mask_path)
        if self._cache[0] == key:
            return self._cache[1]
        image = np.asarray(load_rgb(image_path))
        n = len(self.classes) if self.classes else 256
        mask = load_mask(mask_path, n, self.palette, self.ignore_index)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, image is "
                             f"{image.shape[1]}x{image.shape[0]}")
        self._cache = (key, (image, mask))
        return image, mask

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(RGB uint8 [h, w, 3], class indices [h, w]) of sample ``index`` before transforms; edge tiles padded
        (image 0, mask :attr:`fill`)."""
        if self._samples:
            image, mask = self._samples[index]
            return image, mask.astype(np.int64)
        image_path, mask_path, box = self.items[index]
        image, mask = self.read_pair(image_path, mask_path)
        if box is None:
            return image, mask
        y, x, side = box
        img = np.zeros((side, side, 3), np.uint8)
        msk = np.full((side, side), self.fill, np.int64)
        part = image[y:y + side, x:x + side]
        img[:part.shape[0], :part.shape[1]] = part
        msk[:part.shape[0], :part.shape[1]] = mask[y:y + side, x:x + side]
        return img, msk

    def __getitem__(self, index: int) -> dict:
        image, mask = self.read(index)
        sample = {"image": tv_tensors.Image(torch.from_numpy(image.copy()).permute(2, 0, 1)),
                  "mask": tv_tensors.Mask(torch.from_numpy(mask))}
        if self.transforms is not None:
            sample = self.transforms(sample)
        return {"image": sample["image"].as_subclass(torch.Tensor),
                "mask": sample["mask"].as_subclass(torch.Tensor).long(), "path": str(self.items[index][0])}

    def checked_mask(self, image_path: Path, mask_path: Path) -> np.ndarray:
        """The class indices of one pair, checked against the classes and the image's size (read from its header
        alone: nothing is decoded but the mask)."""
        mask = load_mask(mask_path, len(self.classes), self.palette, self.ignore_index)
        try:
            with Image.open(image_path) as im:
                w, h = im.size
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageReadError(f"{image_path}: not a readable image ({e})") from e
        if mask.shape != (h, w):
            raise ValueError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, image is {w}x{h} "
                             f"({self.split} split)")
        return mask

    def class_pixels(self) -> np.ndarray:
        """Pixels per class over the split (reads every mask: also validates them, and the images' sizes, up
        front, so a bad file of any split is found before the first epoch, not after it)."""
        counts = np.zeros(len(self.classes), np.int64)
        for image_path, mask_path in self.pairs:
            m = self.checked_mask(image_path, mask_path)
            m = m[m != self.ignore_index] if self.ignore_index is not None else m
            counts += np.bincount(m.ravel(), minlength=len(self.classes))[: len(self.classes)]
        return counts

    def plot(self, sample: dict, prediction=None, ax=None, alpha: float = 0.0):
        """The image beside its mask in the class palette (and ``prediction``, if given); see
        :func:`tslib.viz.segment.plot_sample`."""
        from ...viz.segment import plot_sample

        return plot_sample(sample, self.classes, self.colours, prediction=prediction, ignore=self.fill, axes=ax,
                           alpha=alpha)


def config_dataset(cfg, split: str, train: bool = False, classes: list[str] | None = None) -> SegmentationDataset:
    """One split of a ``SegmentConfig``'s data, with its transforms (augmentation only for ``train``)."""
    tf = segmentation_transform(cfg.img_size, train and cfg.augment, fill_index(cfg.ignore_index))
    ds = SegmentationDataset(split, tf, landcover=cfg.landcover, images=cfg.images, masks=cfg.masks,
                             palette=cfg.palette, ignore_index=cfg.ignore_index, limit=cfg.limit_tiles,
                             seed=cfg.train.seed, tile=cfg.tile)
    if ds.classes is None:
        ds.classes = classes
    return ds


def infer_classes(ds: SegmentationDataset) -> list[str]:
    """Class names of index masks without a palette: 0..the largest value in the training masks."""
    ds.classes = [str(c) for c in range(256)]  # accept any 8-bit value while scanning
    top = 0
    for image_path, mask_path in ds.pairs:
        m = ds.checked_mask(image_path, mask_path)
        valid = m[m != ds.ignore_index] if ds.ignore_index is not None else m
        top = max(top, int(valid.max()) if valid.size else 0)
    ds._cache = (None, None)
    if ds.ignore_index is None and top >= PAD_INDEX:
        raise ValueError(f"masks hold the value {top}; set --ignore-index if it marks unlabelled pixels")
    return [str(c) for c in range(top + 1)]
