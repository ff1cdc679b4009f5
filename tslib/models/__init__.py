"""Model factory: ``create_model(name, num_classes, ...)`` and ``list_models()``.

Every model is a :class:`Classifier` = backbone (image -> pooled features) + :class:`MLPHead`.
"""

from __future__ import annotations

# Importing the model modules registers their builders.
from . import cnn as _cnn  # noqa: F401
from . import efficientnet as _efficientnet  # noqa: F401
from . import lite0 as _lite0  # noqa: F401
from .base import IMAGENET_MEAN, IMAGENET_STD, Classifier, make_data_config
from .head import MLPHead
from .lite0 import LITE0_DATA_CONFIG, load_lite0_imagenet
from .registry import create_model, list_models, register_model
from .weights import WEIGHTS_DIR_ENV

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LITE0_DATA_CONFIG",
    "WEIGHTS_DIR_ENV",
    "Classifier",
    "MLPHead",
    "create_model",
    "list_models",
    "load_lite0_imagenet",
    "make_data_config",
    "register_model",
]
