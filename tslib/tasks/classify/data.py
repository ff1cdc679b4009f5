"""The data of a classification run: preprocessing from the model, the three splits, and their loaders."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from ...data.datasets import LandscapeDataset, split_limit
from ...data.fastaug import transforms_for
from ...data.loaders import make_loader
from ...data.sampling import make_weighted_sampler
from ...models import Classifier
from .config import ClassifyConfig


def preprocessing(model: Classifier, img_size: int | None = None) -> dict:
    """The model's own input size and normalisation, optionally rescaled to ``img_size``."""
    dc = model.data_config
    size = img_size or dc["input_size"]
    resize = round(size * dc["resize_size"] / dc["input_size"])
    return {"size": size, "resize_size": resize, "mean": list(dc["mean"]), "std": list(dc["std"]),
            "interpolation": dc.get("interpolation", "bilinear")}


def split_dataset(cfg: ClassifyConfig, split: str, prep: dict, classes: list[str] | None,
                  augment: bool = False, decode_cache: bool = False) -> LandscapeDataset:
    """One manifest split with the run's transforms and per-class limit (never on test); ``decode_cache`` keeps
    its images decoded in memory at the scale the transform's first resize produces."""
    tf = transforms_for(prep, train=augment)
    cache = (prep["size"] if augment else prep["resize_size"]) if decode_cache else None
    return LandscapeDataset(cfg.manifest, split, tf, classes=classes, decode_cache=cache,
                            interpolation=prep.get("interpolation", "bilinear"),
                            limit_per_class=split_limit(split, cfg.limit_per_class), seed=cfg.train.seed)


def device_augment(cfg: ClassifyConfig, device: torch.device) -> bool:
    """Whether training batches are augmented on the device (:mod:`tslib.data.gpuaug`): ``cfg.gpu_augment``, by
    default on with a GPU; never under a feature cache (its images are augmented once, when cached)."""
    wanted = cfg.gpu_augment if cfg.gpu_augment is not None else device.type == "cuda"
    return bool(wanted and cfg.augment and not cfg.use_cache)


def run_datasets(cfg: ClassifyConfig, prep: dict, classes: list[str] | None = None,
                 device: torch.device | None = None) -> dict[str, LandscapeDataset]:
    """train (augmented if ``cfg.augment``), val and test (when the manifest has one), every file checked to
    exist up front: a file deleted after ``prepare`` is one clear error now, not a crash in epoch 7."""
    from ...data.memory import decide_cache

    out = {}
    on_device = device is not None and device_augment(cfg, device)
    for split in ("train", "val", "test"):
        try:
            # the decode cache pays off from the second epoch on: never for test, nor under a feature cache
            cache = (cfg.decode_cache or on_device) and split != "test" and not cfg.use_cache
            out[split] = split_dataset(cfg, split, prep, classes, augment=split == "train" and cfg.augment,
                                       decode_cache=cache)
        except ValueError as e:
            if split != "test" or "is empty" not in str(e):
                raise
            continue
        out[split].check_files()
        ds = out[split]
        if ds.decode_cache and not cfg.decode_cache and not decide_cache(
                None, ds.decoded_bytes(), f"the {split} images of --gpu-augment"):
            ds.set_decode_cache(None)  # too large for RAM: the CPU loader decodes as it goes
        if out[split].decode_cache:
            out[split].warm_cache(cfg.train.progress)
        classes = classes or out["train"].classes
    return out


def train_loader(ds: Dataset, cfg: ClassifyConfig, device: torch.device):
    """The run's training batches: the loader, or with :func:`device_augment` the same order augmented on the
    device from images decoded once."""
    loader = run_loader(ds, cfg, device, train=True)
    if not device_augment(cfg, device) or not ds.decode_cache:
        return loader
    from ...data.gpuaug import DeviceLoader, StoreTooLarge
    from ...data.memory import notice

    try:
        return DeviceLoader(loader, device)
    except StoreTooLarge as e:
        notice(f"--gpu-augment off: {e}; training with the CPU loader ({cfg.train.num_workers} workers)")
        return loader


def run_loader(ds: Dataset, cfg: ClassifyConfig, device: torch.device, train: bool, seed_offset: int = 0,
               workers: int | None = None) -> DataLoader:
    """The run's loader for ``ds``; training draws classes equally often when ``cfg.weighted_sampler``."""
    seed = cfg.train.seed + seed_offset
    sampler = make_weighted_sampler(ds.targets, seed=seed) if train and cfg.weighted_sampler else None
    return make_loader(ds, cfg.train.batch_size, train=train, seed=seed, sampler=sampler, device=device,
                       num_workers=cfg.train.num_workers if workers is None else workers)
