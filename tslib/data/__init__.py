"""Landscape data: finding the Kaggle layouts (sources), reading images (imageio), dedup and split (manifest,
prepare), datasets, transforms, sampling, loaders, the procedural stand-in (synth), downloads and notebook setup
(workspace). Top-level names are imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
