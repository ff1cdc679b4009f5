"""Landscape classification: its task, config, training, evaluation, feature cache and prediction.

Names are imported on first use (PEP 562), so ``python -m tslib --help`` and one-line errors do not pay for
importing torchvision, timm and torchmetrics.
"""

from __future__ import annotations

import importlib
from typing import Any

from .. import TaskSpec
from .config import ClassifyConfig

_LAZY = {
    "ClassificationTask": "task",
    "cached_features": "features",
    "classification_metrics": "metrics",
    "collect_images": "prediction",
    "evaluate_loader": "metrics",
    "evaluate_run": "evaluate",
    "extract_features": "features",
    "link_cache": "features",
    "load_run": "evaluate",
    "predict": "prediction",
    "predict_images": "prediction",
    "predict_probs": "metrics",
    "preprocessing": "data",
    "softmax_probs": "metrics",
    "train_classifier": "train",
}

__all__ = ["SPEC", "ClassifyConfig", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _train(*args: Any, **kwargs: Any) -> dict:
    from .train import train_classifier

    return train_classifier(*args, **kwargs)


def _evaluate(*args: Any, **kwargs: Any) -> dict:
    from .evaluate import evaluate_run

    return evaluate_run(*args, **kwargs)


def _format(metrics: dict) -> list[str]:
    from .cli import format_metrics

    return format_metrics(metrics)


def _commands(sub: Any) -> None:
    from .cli import add_commands

    add_commands(sub)


SPEC = TaskSpec(name="classify", help="landscape classification (7 classes)", config_cls=ClassifyConfig,
                train=_train, evaluate=_evaluate, format_metrics=_format, add_commands=_commands)
