"""``LandscapeDataset``: a split of a prepared manifest, returning ``{"image", "label", "path"}`` samples."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ..errors import MissingFilesError
from .classes import classes_present
from .imageio import load_rgb
from .manifest import Entry, read_manifest
from .transforms import IMAGENET_MEAN, IMAGENET_STD, denormalize, interpolation_mode

VALID_SPLITS = ("train", "val", "test", "unlabeled")


def resolve_manifest(root: Path | str) -> Path:
    """``root`` may be the ``prepare --out`` folder or the manifest file itself."""
    root = Path(root)
    return root / "manifest.csv" if root.is_dir() else root


def resolve_data_root(manifest: Path, probe: str | None = None) -> Path:
    """Where the manifest's relative paths start. ``report.json`` records it both relative to the manifest folder
    (so a moved project still works) and absolute (so a moved manifest still works); the first candidate that
    holds the ``probe`` image wins."""
    report_path = manifest.parent / "report.json"
    if not report_path.is_file():
        return manifest.parent
    report = json.loads(report_path.read_text())
    candidates = [manifest.parent / report.get("data_root_relative", "."), Path(report.get("data_root", "."))]
    for c in candidates:
        if probe is None or (c / probe).exists():
            return c
    raise FileNotFoundError(
        f"images of {manifest} not found under {[str(c) for c in candidates]}; pass data_root= to point at them"
    )


def split_limit(split: str, limit_per_class: int | None) -> int | None:
    """The per-class limit a split gets: subsets are for quick runs, but the test split is always complete so
    test numbers stay comparable between runs."""
    return None if split == "test" else limit_per_class


def select_per_class(entries: list[Entry], k: int, seed: int = 0) -> list[Entry]:
    """At most ``k`` entries per class, chosen by a seeded content-hash order (machine independent)."""
    by_class: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        by_class[e.label].append(e)
    keep = []
    for label in sorted(by_class):
        items = sorted(by_class[label], key=lambda e: hashlib.sha256(f"limit{seed}:{e.hash}".encode()).hexdigest())
        keep += items[:k]
    return sorted(keep, key=lambda e: e.path)


class LandscapeDataset(Dataset):
    """One split of a manifest written by ``python -m tslib prepare``.

    Args:
        root: the ``prepare --out`` folder (or its ``manifest.csv``).
        split: "train", "val", "test" or "unlabeled" (Intel seg_pred; label is -1).
        transforms: callable on the sample dict, e.g. :func:`tslib.transforms.train_transform`.
        classes: class list of the run; default: every canonical class present in the manifest.
        limit_per_class: keep at most this many images per class (seeded, deterministic).
        data_root: override where image paths are resolved from.
        decode_cache: keep every image decoded in memory, its shorter side resized to this many pixels (with
            antialiasing, as the transforms' first ``Resize`` does, which then has nothing left to do); filled by
            :meth:`warm_cache` before the loader's workers start, so they share it. Memory: about
            ``3 * decode_cache**2 * aspect`` bytes per image (20,000 images at 150 px: ~1.6 GB).
        interpolation: the resize filter of ``decode_cache`` (the model's own, as in ``transforms``).
    """

    def __init__(
        self,
        root: Path | str,
        split: str = "train",
        transforms: Callable[[dict], dict] | None = None,
        classes: list[str] | None = None,
        limit_per_class: int | None = None,
        data_root: Path | str | None = None,
        seed: int = 0,
        decode_cache: int | None = None,
        interpolation: str = "bilinear",
    ) -> None:
        if split not in VALID_SPLITS:
            raise ValueError(f"split must be one of {VALID_SPLITS}, got {split!r}")
        self.manifest = resolve_manifest(root)
        all_entries = read_manifest(self.manifest)
        self.classes = list(classes) if classes else classes_present(e.label for e in all_entries if e.label)
        entries = [e for e in all_entries if e.split == split]
        unknown = {e.label for e in entries if e.label and e.label not in self.classes}
        if unknown:
            raise ValueError(f"labels {sorted(unknown)} in {self.manifest} are not in classes {self.classes}")
        if limit_per_class:
            entries = select_per_class(entries, limit_per_class, seed)
        if not entries:
            raise ValueError(f"split {split!r} of {self.manifest} is empty")
        self.entries = entries
        self.split = split
        self.transforms = transforms
        self.data_root = Path(data_root) if data_root else resolve_data_root(self.manifest, entries[0].path)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.targets = [self.class_to_idx.get(e.label, -1) for e in entries]
        self.interpolation = interpolation
        self.set_decode_cache(decode_cache)

    def set_decode_cache(self, size: int | None) -> None:
        """Cache decoded images at shorter side ``size`` from now on (None: decode at every read); drops what was
        cached before."""
        if size is not None and size < 1:
            raise ValueError(f"decode_cache must be a positive size in pixels, got {size}")
        self.decode_cache = size
        self._cache: list[Tensor | None] = [None] * len(self.entries) if size else []

    def decoded_bytes(self, size: int | None = None) -> int:
        """About how many bytes this split's images take decoded at shorter side ``size`` (default: the decode
        cache's): measured on the headers of an evenly spaced sample of its files, nothing decoded."""
        from .memory import header_sizes, scaled_bytes

        return scaled_bytes(header_sizes([self.path(i) for i in range(len(self))]), len(self),
                            size or self.decode_cache)

    def __len__(self) -> int:
        return len(self.entries)

    def missing_files(self) -> list[Path]:
        """Images listed for this split that no longer exist (one ``stat`` each: cheap even for 25k images)."""
        return [self.data_root / e.path for e in self.entries if not (self.data_root / e.path).is_file()]

    def check_files(self) -> None:
        """Raise :class:`MissingFilesError` naming the files deleted or moved since ``prepare``, before training
        starts rather than whenever the sampler happens to draw one."""
        missing = self.missing_files()
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            shown = ", ".join(str(p) for p in missing[:3]) + more
            raise MissingFilesError(f"{len(missing)} of {len(self)} {self.split} images listed in {self.manifest} "
                                    f"are missing: {shown}; restore them or re-run `python -m tslib prepare`")

    def path(self, index: int) -> Path:
        return self.data_root / self.entries[index].path

    def _decode(self, index: int) -> Tensor:
        """uint8 CHW (a view of HWC pixels), resized when the dataset caches decoded images."""
        image = F.pil_to_tensor(load_rgb(self.path(index)))
        if not self.decode_cache:
            return image
        if min(image.shape[-2:]) != self.decode_cache:
            image = F.resize(image, self.decode_cache, interpolation=interpolation_mode(self.interpolation),
                             antialias=True)
        return image.permute(1, 2, 0).contiguous().permute(2, 0, 1)  # HWC memory, as decoded images have

    def warm_cache(self, progress: bool = False) -> None:
        """Decode every image once into the in-memory cache (``decode_cache``): the first epoch's decoding, done
        in this process so that the loader's worker processes share the result instead of each redoing it."""
        from ..utils import progress_bar

        for i in progress_bar(range(len(self)), f"decoding {self.split} images once", progress):
            if self._cache[i] is None:
                self._cache[i] = self._decode(i)

    def cached_images(self, progress: bool = False) -> list[Tensor]:
        """Every image decoded once (warming the cache first): uint8 CHW, shorter side ``decode_cache``."""
        if not self.decode_cache:
            raise ValueError("cached_images needs a dataset built with decode_cache")
        self.warm_cache(progress)
        return list(self._cache)

    def __getitem__(self, index: int) -> dict:
        path = self.path(index)
        if self.decode_cache:
            if self._cache[index] is None:  # not warmed (or a worker's own copy): decode now
                self._cache[index] = self._decode(index)
            image = tv_tensors.Image(self._cache[index])
        else:
            image = tv_tensors.Image(self._decode(index))
        sample = {"image": image, "label": self.targets[index], "path": str(path)}
        return self.transforms(sample) if self.transforms else sample

    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) of the Normalize step in ``transforms`` (ImageNet's if there is none), for display."""
        for t in getattr(self.transforms, "transforms", []):
            if isinstance(t, v2.Normalize):
                return tuple(t.mean), tuple(t.std)
        return IMAGENET_MEAN, IMAGENET_STD

    def plot(self, sample: dict, prediction: int | None = None, ax=None, show_title: bool = True):
        """Show one sample (raw uint8 or normalised float); title is the label, and the prediction if given."""
        import matplotlib.pyplot as plt

        image = sample["image"]
        if image.dtype.is_floating_point:
            image = denormalize(image, *self.normalization())
        else:
            image = image.float() / 255
        ax = ax or plt.subplots(figsize=(3, 3))[1]
        ax.imshow(image.permute(1, 2, 0).cpu().numpy())
        ax.axis("off")
        if show_title:
            label = sample["label"]
            name = self.classes[label] if label >= 0 else "unlabelled"
            title = name if prediction is None else f"true {name}\npred {self.classes[prediction]}"
            ax.set_title(title, fontsize=9, color="black" if prediction in (None, label) else "red")
        return ax

