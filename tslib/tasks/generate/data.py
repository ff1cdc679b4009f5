"""The data of a generator run: manifest splits as [0, 1] images at the run's size, and their loaders."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from ...data.datasets import LandscapeDataset, split_limit
from ...data.loaders import make_loader
from ...data.sampling import make_weighted_sampler
from ...data.transforms import generation_transform
from .config import GenerateConfig


def split_dataset(cfg: GenerateConfig, split: str, classes: list[str] | None = None,
                  train: bool = False) -> LandscapeDataset:
    """One manifest split, preprocessed exactly as the generator's training images (flips only if ``train``)."""
    ds = LandscapeDataset(cfg.manifest, split, generation_transform(cfg.img_size, train and cfg.augment),
                          classes=classes, limit_per_class=split_limit(split, cfg.limit_per_class),
                          seed=cfg.train.seed)
    ds.check_files()
    return ds


def run_datasets(cfg: GenerateConfig, classes: list[str] | None = None) -> dict[str, LandscapeDataset]:
    """train, val and (when the manifest has one) test; train and val decoded once at the run's scale
    (``cfg.decode_cache``, by default where they fit in :data:`~tslib.data.memory.CACHE_SHARE` of the RAM): a
    generator's epochs would otherwise decode every full-size JPEG again, which on Colab's 2 vCPUs is slower than
    the GPU's step."""
    from ...data.memory import decide_cache

    out = {"train": split_dataset(cfg, "train", classes, train=True)}
    classes = classes or out["train"].classes
    out["val"] = split_dataset(cfg, "val", classes)
    for split in ("train", "val"):
        ds = out[split]
        if decide_cache(cfg.decode_cache, ds.decoded_bytes(cfg.img_size), f"the {split} images"):
            ds.set_decode_cache(cfg.img_size)  # the transform's Resize then has nothing left to do (tested)
            ds.warm_cache(cfg.train.progress)
    try:
        out["test"] = split_dataset(cfg, "test", classes)
    except ValueError as e:
        if "is empty" not in str(e):
            raise
    return out


def run_loader(ds: LandscapeDataset, cfg: GenerateConfig, device: torch.device | str, train: bool) -> DataLoader:
    sampler = make_weighted_sampler(ds.targets, seed=cfg.train.seed) if train and cfg.weighted_sampler else None
    return make_loader(ds, cfg.train.batch_size, train=train, seed=cfg.train.seed, sampler=sampler, device=device,
                       num_workers=cfg.train.num_workers)
