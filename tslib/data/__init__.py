"""Landscape data: finding the Kaggle layouts (sources), reading images (imageio), dedup and split (manifest,
prepare), datasets, transforms, sampling, loaders, the procedural stand-in (synth), downloads and notebook setup
(workspace). Top-level names are imported on first use."""

from __future__ import annotations

from ..lazy import lazy_exports

_LAZY = {
    "CANONICAL_CLASSES": "classes",
    "LandscapeDataset": "datasets",
    "eval_transform": "transforms",
    "make_loader": "loaders",
    "make_weighted_sampler": "sampling",
    "prepare": "prepare",
    "setup_data": "workspace",
    "train_transform": "transforms",
}

__all__ = list(_LAZY)


__getattr__ = lazy_exports(__name__, _LAZY)
