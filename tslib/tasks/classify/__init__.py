"""Landscape classification: its task, config, training, evaluation, feature cache and prediction.

Names are imported on first use (PEP 562), so ``python -m tslib --help`` and one-line errors do not pay for
importing torchvision, timm and torchmetrics.
"""

from __future__ import annotations

from .. import TaskSpec, lazy_exports
from .config import ClassifyConfig

_LAZY = {
    "ClassificationTask": "task",
    "cached_features": "features",
    "classification_metrics": "metrics",
    "collect_images": "prediction",
    "evaluate_ood": "evaluate",
    "evaluate_run": "evaluate",
    "fit_trust": "trust",
    "load_trusted": "trust",
    "TrustedClassifier": "trust",
    "explain": "explain",
    "extract_features": "features",
    "link_cache": "features",
    "load_run": "evaluate",
    "predict": "prediction",
    "predict_images": "prediction",
    "preprocessing": "data",
    "train_classifier": "train",
    "write_explanations": "explain",
}

__all__ = ["SPEC", "ClassifyConfig", *_LAZY]


__getattr__ = lazy_exports(__name__, _LAZY)

SPEC = TaskSpec.of_package(__name__, "classify", "classification", ClassifyConfig,
                           train_fn="train_classifier", evaluate_options=("calibrate", "recalibrate", "ood"))
