"""TerraSculpt library: landscape classification, generation and land-cover segmentation in PyTorch.

Layout: ``tslib.data`` (datasets and preparation), ``tslib.models`` (registry keyed by task), ``tslib.engine``
(``fit``, checkpoints, run folders, inference), ``tslib.tasks`` (one subpackage per task), ``tslib.viz`` (figures),
``tslib.cli`` (``python -m tslib``). The names below are imported on first use, so the CLI starts quickly.
"""

from __future__ import annotations

from .lazy import lazy_exports

__version__ = "0.2.0"

_LAZY = {
    "CANONICAL_CLASSES": "data.classes",
    "LandscapeDataset": "data.datasets",
    "eval_transform": "data.transforms",
    "make_weighted_sampler": "data.sampling",
    "prepare": "data.prepare",
    "setup_data": "data.workspace",
    "train_transform": "data.transforms",
    "workspace": "data.workspace:",  # the module (notebooks call tslib.workspace.run_path)
}

__all__ = list(_LAZY)
__getattr__ = lazy_exports(__name__, _LAZY)
