"""TerraSculpt library: landscape classification, generation and land-cover segmentation in PyTorch.

Layout: ``tslib.data`` (datasets and preparation), ``tslib.models`` (registry keyed by task), ``tslib.engine``
(``fit``, checkpoints, run folders, inference), ``tslib.tasks`` (one subpackage per task), ``tslib.viz`` (figures),
``tslib.cli`` (``python -m tslib``).
"""

from .data import (
    CANONICAL_CLASSES,
    LandscapeDataset,
    eval_transform,
    make_weighted_sampler,
    prepare,
    setup_data,
    train_transform,
    workspace,
)

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_CLASSES",
    "LandscapeDataset",
    "eval_transform",
    "make_weighted_sampler",
    "prepare",
    "setup_data",
    "train_transform",
    "workspace",
]
