"""Model factory keyed by task: ``create_model(name, ...)``, ``list_models(task=None)``.

Generators (task ``generate``: ``ae``, ``vae``, ``cvae``, ``dcgan``, ``ddpm``, ...) take ``img_size``,
``latent_dim``, ``width`` (and
``num_classes`` when conditional). The segmenters (task ``segment``: ``unet`` and smp's ``smp_unet``,
``fpn``, ``deeplabv3plus``) take ``in_channels``, ``num_classes``, ``depth``, ``width``, ``pretrained``; the smp ones
also an ``encoder`` (``efficientnet_lite0``/``1``/``2``).
Classifiers (task ``classify``) are a :class:`Classifier` = backbone (image -> pooled features) + :class:`MLPHead`,
built as ``create_model(name, num_classes, pretrained=False, freeze=False, ...)``. Each model family lives in its own
module; importing it registers its builders.
"""

from __future__ import annotations

from . import autoencoder as _autoencoder  # noqa: F401
from . import cnn as _cnn  # noqa: F401
from . import dcgan as _dcgan  # noqa: F401
from . import ddpm as _ddpm  # noqa: F401
from . import efficientnet as _efficientnet  # noqa: F401
from . import lite as _lite  # noqa: F401
from . import projected_gan as _projected_gan  # noqa: F401
from . import smp_models as _smp_models  # noqa: F401
from . import unet as _unet  # noqa: F401
from .classifier import IMAGENET_MEAN, IMAGENET_STD, Classifier, make_data_config, register_classifier
from .head import MLPHead
from .lite import LITE0_DATA_CONFIG, load_lite0_imagenet, load_lite_imagenet
from .registry import (
    TASKS,
    build_from_spec,
    check_model_name,
    create_model,
    list_models,
    model_defaults,
    model_task,
    register_model,
)
from .weights import WEIGHTS_DIR_ENV

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LITE0_DATA_CONFIG",
    "TASKS",
    "WEIGHTS_DIR_ENV",
    "Classifier",
    "MLPHead",
    "build_from_spec",
    "check_model_name",
    "create_model",
    "list_models",
    "model_defaults",
    "load_lite0_imagenet",
    "load_lite_imagenet",
    "make_data_config",
    "model_task",
    "register_classifier",
    "register_model",
]
