"""The study's UNet, written from scratch (task ``segment``).

``DoubleConv`` (3x3 conv, BatchNorm, ReLU, twice) at every level; the encoder and decoder are ``nn.ModuleList``s;
max-pooling goes down, transposed convolutions come up, and each decoder level concatenates the encoder's
features of the same size (the skip connections). Any input size works: it is padded to a multiple of
``2 ** depth`` and the logits are cropped back.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .registry import register_model
from .shapes import center_crop, pad_to_stride


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BatchNorm -> ReLU) x 2; the convs have no bias because BatchNorm adds one."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """``depth`` down/up steps; level i has ``width * 2**i`` channels (the bottleneck ``width * 2**depth``)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 5, depth: int = 4, width: int = 64) -> None:
        super().__init__()
        if depth < 1 or width < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError(f"bad UNet sizes: in_channels={in_channels}, num_classes={num_classes}, "
                             f"depth={depth} (>= 1), width={width}")
        self.in_channels, self.num_classes, self.depth, self.width = in_channels, num_classes, depth, width
        chans = [width * 2**i for i in range(depth + 1)]
        self.encoder = nn.ModuleList([DoubleConv(in_channels, chans[0])] +
                                     [DoubleConv(chans[i], chans[i + 1]) for i in range(depth)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2)
                                 for i in reversed(range(depth))])
        self.decoder = nn.ModuleList([DoubleConv(2 * chans[i], chans[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(chans[0], num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        x = pad_to_stride(x, self.in_channels, self.depth, "UNet")
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()  # the bottleneck
        for up, block in zip(self.up, self.decoder):
            x = block(torch.cat([skips.pop(), up(x)], dim=1))
        return center_crop(self.head(x), h, w)


@register_model("unet", task="segment")
def unet(in_channels: int = 3, num_classes: int = 5, depth: int = 4, width: int = 64,
         pretrained: bool = False) -> UNet:
    """The study's UNet from scratch: Landcover.ai's 5 classes by default."""
    # ``pretrained`` only so every segmenter takes the same arguments; there are no weights to load.
    if pretrained:
        raise ValueError("unet is trained from scratch; for an ImageNet encoder use smp_unet, fpn or deeplabv3plus")
    return UNet(in_channels, num_classes, depth, width)
