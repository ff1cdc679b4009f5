"""TerraSculpt library: landscape classification, generation and land-cover segmentation in PyTorch.

Layout: ``tslib.data`` (datasets and preparation), ``tslib.models`` (registry keyed by task), ``tslib.engine``
(``fit``, checkpoints, run folders, inference), ``tslib.tasks`` (one subpackage per task), ``tslib.viz`` (figures),
``tslib.cli`` (``python -m tslib``). The names below are imported on first use, so the CLI starts quickly.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_LAZY = {
    "CANONICAL_CLASSES": "tslib.data.classes",
    "LandscapeDataset": "tslib.data.datasets",
    "eval_transform": "tslib.data.transforms",
    "make_weighted_sampler": "tslib.data.sampling",
    "prepare": "tslib.data.prepare",
    "setup_data": "tslib.data.workspace",
    "train_transform": "tslib.data.transforms",
    "workspace": None,  # the module tslib.data.workspace (notebooks call tslib.workspace.run_profile)
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name == "workspace":
        return importlib.import_module("tslib.data.workspace")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tslib' has no attribute {name!r}")
