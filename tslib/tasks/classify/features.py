"""Frozen-backbone feature cache: run the backbone once per image (and view), then train only the head.

With a frozen backbone every epoch recomputes identical features; caching them turns an epoch into a few
matrix multiplications. ``K`` augmented views per image keep some of augmentation's benefit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ... import distributed
from ...engine.checkpoint import read_torch_file
from ...engine.inference import run_batches
from ...errors import CheckpointError
from ...utils import atomic_save


class FeatureDataset(Dataset):
    """Cached features as ``{"image": feature vector, "label": int}`` samples, so the same training loop and
    task train the head on them."""

    def __init__(self, features: Tensor, labels: Tensor) -> None:
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} features but {len(labels)} labels")
        self.features, self.labels = features, labels
        self.targets = labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.features[i], "label": self.labels[i]}


def extract_features(
    backbone: nn.Module, loader: DataLoader, device: torch.device | str = "cpu", progress: bool = True,
    desc: str = "extracting features",
) -> tuple[Tensor, Tensor]:
    """Backbone features [N, D] (fp32, on CPU) and labels [N] for every batch of ``loader``."""
    features, labels = run_batches(backbone, loader, device, progress=progress, desc=desc)
    if labels is None:
        raise ValueError("the loader's batches have no 'label'")
    return features, labels


def cache_key(**parts) -> str:
    """A short stable hash of everything the cached features depend on."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cached_features(
    path: Path,
    backbone: nn.Module,
    make_loader: Callable[[int], DataLoader],
    views: int = 1,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> FeatureDataset:
    """Features of ``views`` passes over the data, loaded from ``path`` if present, else computed and saved.

    ``make_loader(view)`` returns the loader of one view: view 0 is conventionally the clean (eval-transform)
    view and later views are augmented; each view's loader should be seeded by its view number so the cache is
    reproducible. Under torchrun each process computes every N-th image and the rows are gathered back in order,
    N times faster: the clean view's cache (written by rank 0) is the one a single process computes; augmented views
    draw their augmentations in each process's workers.
    """
    if path.is_file():
        try:
            data = read_torch_file(path, what="feature cache")
            return FeatureDataset(data["features"], data["labels"])
        except (CheckpointError, KeyError, TypeError) as e:  # a damaged cache is only lost time: rebuild it
            warnings.warn(f"{e}; recomputing the features", stacklevel=2)
    feats, labels = [], []
    for view in range(views):
        loader = make_loader(view)
        f, y = extract_features(backbone, distributed.shard_loader(loader), device, progress and distributed.is_main(),
                                desc=f"features view {view + 1}/{views}")
        feats.append(distributed.gather_rows(f, len(loader.dataset), torch.device(device)))
        labels.append(distributed.gather_rows(y, len(loader.dataset), torch.device(device)))
    data = {"features": torch.cat(feats), "labels": torch.cat(labels)}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(data, path)
    return FeatureDataset(data["features"], data["labels"])


def link_cache(src_run: str | Path, dst_run: str | Path) -> int:
    """Hard-link (or copy) ``src_run``'s cached features into ``dst_run``; returns how many files were new.

    Cache files are named by a hash of everything they depend on, so a run only picks up matching features.
    """
    src, dst = Path(src_run) / "features", Path(dst_run) / "features"
    new = [f for f in (sorted(src.glob("*.pt")) if src.is_dir() else []) if not (dst / f.name).exists()]
    dst.mkdir(parents=True, exist_ok=True)
    for f in new:
        try:
            os.link(f, dst / f.name)
        except OSError:  # another file system, or no hard links
            shutil.copy2(f, dst / f.name)
    return len(new)
