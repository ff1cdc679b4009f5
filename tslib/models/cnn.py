"""The plain CNN baseline of the original study (trained from scratch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from .classifier import IMAGENET_MEAN, IMAGENET_STD, Classifier, make_data_config, register_classifier
from .head import MLPHead
from .weights import load_backbone_state, read_state_dict


class SimpleCNN(nn.Module):
    """``len(channels)`` blocks of Conv3x3-BN-ReLU-MaxPool2, then global average pooling.

    Global pooling makes the feature size independent of the input size, so the same network
    runs on the 150px Intel images and on tiny test inputs. Each MaxPool halves the size, so
    the input needs at least ``2 ** len(channels)`` pixels per side.
    """

    def __init__(self, channels: Sequence[int] = (32, 64, 128, 256), in_channels: int = 3) -> None:
        super().__init__()
        if not channels:
            raise ValueError("SimpleCNN needs at least one block")
        blocks: list[nn.Module] = []
        prev = in_channels
        for ch in channels:
            blocks.append(
                nn.Sequential(
                    # No conv bias: the following BatchNorm has its own shift.
                    nn.Conv2d(prev, ch, kernel_size=3, padding=1, bias=False),
                    nn.BatchNorm2d(ch),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(2),
                )
            )
            prev = ch
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.out_features = prev
        self.min_size = 2 ** len(channels)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h < self.min_size or w < self.min_size:
            # MaxPool would otherwise fail deep inside with an opaque "output size is too small".
            raise ValueError(
                f"cnn input is {h}x{w}, but this network needs at least "
                f"{self.min_size}x{self.min_size} pixels ({len(self.blocks)} 2x poolings)"
            )
        return self.flatten(self.pool(self.blocks(x)))


@register_classifier("cnn")
def cnn(
    num_classes: int,
    pretrained: bool = False,
    hidden: int = 256,
    dropout: float = 0.3,
    weights_path: str | None = None,
    activation: str = "relu",
    channels: Sequence[int] = (32, 64, 128, 256),
    **kwargs: Any,
) -> Classifier:
    """Simple CNN baseline; ``weights_path`` may hold a backbone (or whole-model) checkpoint."""
    if pretrained and weights_path is None:
        raise ValueError("cnn has no published pretrained weights; pass weights_path= to load your own")
    if kwargs:
        raise TypeError(f"cnn got unexpected arguments {sorted(kwargs)}")
    backbone = SimpleCNN(channels)
    if weights_path is not None:
        load_backbone_state(backbone, read_state_dict(weights_path), source=f"weights from {weights_path}")
    head = MLPHead(backbone.out_features, num_classes, hidden, dropout, activation)
    # 150px: the native size of the Intel Image Classification photos the baseline was built on.
    config = make_data_config(150, 150, IMAGENET_MEAN, IMAGENET_STD, "bilinear")
    stages = [(f"blocks.{i}",) for i in range(len(backbone.blocks))]
    return Classifier(backbone, head, backbone.out_features, config, stages, name="cnn")
