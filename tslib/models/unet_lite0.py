"""A UNet decoder on the ImageNet EfficientNet-Lite0 encoder (task ``segment``).

The encoder is timm's ``tf_efficientnet_lite0`` as a feature extractor (strides 2..32, channels 16, 24, 40,
112, 320); ``depth`` says how many of those strides the decoder uses. Each decoder level upsamples
bilinearly, concatenates the encoder's features of that stride and applies a :class:`DoubleConv` with the
plain UNet's channel count (``width * 2**i`` at stride ``2**i``), so only the encoder differs from ``unet``; at
full resolution, where the encoder has no features, the input image is the skip connection.
"""

from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .lite import TIMM_NAME, LiteInputNorm, lite_state
from .registry import register_model
from .shapes import center_crop, pad_to_stride
from .unet import DoubleConv
from .weights import load_backbone_state

#: Parts of the classifier that a features_only model does not have.
_HEAD_PREFIXES = ("conv_head.", "bn2.", "classifier.")


class UNetLite0(nn.Module):
    """Lite0 features at strides ``2 .. 2**depth`` -> UNet decoder -> logits at the input's size."""

    def __init__(self, in_channels: int = 3, num_classes: int = 5, depth: int = 4, width: int = 32,
                 weights_path: str | None = None, pretrained: bool = False) -> None:
        super().__init__()
        if not 1 <= depth <= 5:
            raise ValueError(f"unet_lite0 depth must be 1..5 (Lite0's strides 2..32), got depth={depth}")
        if width < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError(f"bad unet_lite0 sizes: in_channels={in_channels}, num_classes={num_classes}, "
                             f"width={width}")
        pretrained = pretrained or weights_path is not None
        if pretrained and in_channels != 3:
            raise ValueError(f"the ImageNet Lite0 stem takes RGB images; got in_channels={in_channels} "
                             "(use pretrained=False for other channel counts)")
        self.in_channels, self.num_classes, self.depth, self.width = in_channels, num_classes, depth, width
        self.encoder = timm.create_model(TIMM_NAME, features_only=True, out_indices=tuple(range(depth)),
                                         pretrained=False, in_chans=in_channels)
        if pretrained:
            # Strict: every encoder key must come from the file (the classifier head is all that is dropped).
            load_backbone_state(self.encoder, lite_state(self.encoder, weights_path),
                                ignore_prefixes=_HEAD_PREFIXES, source="Lite0 ImageNet weights")
        # timm keeps (and runs) all 7 block stages whatever out_indices says; drop the ones past the deepest
        # feature used, else they cost time and their parameters never get a gradient (DDP would complain).
        stages = [f["stage"] for f in self.encoder.feature_info.get_dicts()]
        self.encoder.blocks = self.encoder.blocks[:max(stages)]
        enc = self.encoder.feature_info.channels()  # enc[i - 1] has stride 2**i
        # Input is ImageNet-normalised; Lite0 wants (x - 0.5) / 0.5.
        self.norm = LiteInputNorm(in_channels)
        # Decoder levels from stride 2**(depth-1) up to stride 2; the deepest feature is the bottleneck.
        blocks, ch = [], enc[-1]
        for i in reversed(range(1, depth)):
            blocks.append(DoubleConv(ch + enc[i - 1], width * 2**i))
            ch = width * 2**i
        self.decoder = nn.ModuleList(blocks)
        # Full resolution: the encoder has no features there, so the (normalised) image itself is the skip; without
        # it thin structures (roads, small buildings) blur away at the stride-2 level.
        self.final = DoubleConv(ch + in_channels, width)
        self.head = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        x = pad_to_stride(x, self.in_channels, self.depth, "UNetLite0")
        image = self.norm(x)
        skips = self.encoder(image)
        x = skips.pop()  # the bottleneck
        for block in self.decoder:
            x = block(torch.cat([skips.pop(), _up(x)], dim=1))
        return center_crop(self.head(self.final(torch.cat([image, _up(x)], dim=1))), h, w)


def _up(x: Tensor) -> Tensor:
    """x2 bilinear upsampling (the encoder's sizes are exact multiples after padding)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


@register_model("unet_lite0", task="segment")
def unet_lite0(in_channels: int = 3, num_classes: int = 5, depth: int = 4, width: int = 32,
               pretrained: bool = False, weights_path: str | None = None) -> UNetLite0:
    """UNet on the ImageNet Lite0 encoder (offline weights with ``pretrained=True``): 5 Landcover.ai classes."""
    return UNetLite0(in_channels, num_classes, depth, width, weights_path=weights_path, pretrained=pretrained)
