"""torchvision EfficientNetV2-S/L backbones with ImageNet weights (downloaded or local)."""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models import EfficientNet_V2_L_Weights, EfficientNet_V2_S_Weights, WeightsEnum

from .classifier import Classifier, make_data_config, register_classifier
from .head import MLPHead
from .weights import load_backbone_state, local_weights_file, no_weights_message, read_state_dict


class TorchvisionBackbone(nn.Module):
    """``features`` -> global average pool -> flatten, i.e. a torchvision EfficientNet minus classifier.

    Attribute names follow torchvision so its checkpoints load without renaming.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.features = net.features
        self.avgpool = net.avgpool
        self.out_features: int = net.classifier[-1].in_features

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)


def weights_data_config(weights: WeightsEnum) -> dict[str, Any]:
    """The eval preprocessing published with torchvision ``weights`` (not guessed)."""
    t = weights.transforms()
    return make_data_config(t.crop_size[0], t.resize_size[0], t.mean, t.std, t.interpolation.value)


def fetch_state_dict(
    weights: WeightsEnum, model: str, weights_path: str | os.PathLike[str] | None
) -> dict[str, Tensor]:
    """State dict from ``weights_path``, else $TSLIB_WEIGHTS_DIR, else the hub cache / download."""
    if weights_path is not None:
        return read_state_dict(weights_path)
    filename = os.path.basename(weights.url)
    local = local_weights_file(filename)
    if local is not None:
        return read_state_dict(local)
    try:
        # Looks in $TORCH_HOME/hub/checkpoints first and downloads only on a cache miss.
        # weights_only: a tampered file in the hub cache (its hash is checked only on download) cannot run code
        return torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True, weights_only=True)
    except Exception as err:  # URLError, OSError, HTTPError, hash mismatch...: all mean "no weights"
        raise RuntimeError(no_weights_message(model, filename, err)) from err


def _build(
    name: str,
    weights: WeightsEnum,
    num_classes: int,
    pretrained: bool = False,
    hidden: int = 256,
    dropout: float = 0.3,
    weights_path: str | None = None,
    activation: str = "relu",
    **kwargs: Any,
) -> Classifier:
    # weights=None always: torchvision must never download behind our back.
    net = getattr(torchvision.models, name)(weights=None, **kwargs)
    backbone = TorchvisionBackbone(net)
    if pretrained or weights_path is not None:
        state = fetch_state_dict(weights, name, weights_path)
        source = f"weights from {weights_path}" if weights_path else f"{weights} weights"
        load_backbone_state(backbone, state, ignore_prefixes=("classifier.", "head."), source=source)
    head = MLPHead(backbone.out_features, num_classes, hidden, dropout, activation)
    # One stage per child of `features`: stem, the 6 (S) / 7 (L) MBConv stages, the 1x1 head conv.
    stages = [(f"features.{i}",) for i in range(len(backbone.features))]
    return Classifier(backbone, head, backbone.out_features, weights_data_config(weights), stages, name=name)


# EfficientNetV2-S (21M params; weights expect 384 px, ImageNet mean/std) and EfficientNetV2-L (118M params,
# the study's model; weights expect 480 px bicubic, mean/std 0.5): the same builder with other weights.
for _name, _weights in (
    ("efficientnet_v2_s", EfficientNet_V2_S_Weights.IMAGENET1K_V1),
    ("efficientnet_v2_l", EfficientNet_V2_L_Weights.IMAGENET1K_V1),
):
    register_classifier(_name)(functools.partial(_build, _name, _weights))
