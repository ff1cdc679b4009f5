"""Landscape generation: autoencoder, VAE, conditional VAE and DCGAN; sampling; FID/KID and classifier agreement.

Names are imported on first use (PEP 562), so the CLI starts without importing torchvision, timm, torchmetrics.
"""

from __future__ import annotations

from .. import TaskSpec, lazy_exports
from .config import GenerateConfig

_LAZY = {
    "GANTask": "task",
    "ReconstructionTask": "task",
    "class_labels": "sampling",
    "evaluate_generator": "evaluate",
    "evaluate_run": "evaluate",
    "fid_kid": "metrics",
    "interpolate": "sampling",
    "load_generator": "sampling",
    "load_images": "sampling",
    "reconstruct": "sampling",
    "sample": "sampling",
    "save_images": "sampling",
    "train_generator": "train",
}

__all__ = ["SPEC", "GenerateConfig", *_LAZY]


__getattr__ = lazy_exports(__name__, _LAZY)

SPEC = TaskSpec.of_package(__name__, "generate", "generator", GenerateConfig, train_fn="train_generator")
