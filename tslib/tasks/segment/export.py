"""What ``export`` writes for a segmentation run: the segmenter with per-pixel probabilities, for any batch size and
any height and width that are multiples of its total stride, and the preprocessing a user must repeat."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...export import Exportable
from ...imagenet import IMAGENET_MEAN, IMAGENET_STD

OUTPUTS = (
    {"name": "probs", "shape": ["N", "C", "H", "W"], "meaning": "per-pixel class probabilities (softmax over C)"},
    {"name": "logits", "shape": ["N", "C", "H", "W"], "meaning": "per-pixel class scores; argmax over C is the map"},
)


class ProbsAndLogits(nn.Module):
    """``forward(image) -> (probs, logits)``, both [N, C, H, W] float32."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.net(image).float()
        return logits.softmax(1), logits


class StaticSameConv(nn.Module):
    """timm's ``Conv2dSame`` (TensorFlow "same" padding, computed from the input size on every call) with that
    padding fixed: for an input whose height and width are multiples of the stride it is always
    ``(kernel - 1) * dilation + 1 - stride``. The UNets only see such inputs, and the exporter then has no
    ``ceil(size / stride)`` to reason about symbolically (a Lite0 UNet exports in seconds instead of minutes)."""

    def __init__(self, same: nn.Conv2d) -> None:
        super().__init__()
        self.conv = nn.Conv2d(same.in_channels, same.out_channels, same.kernel_size, same.stride, 0, same.dilation,
                              same.groups, same.bias is not None)
        self.conv.weight, self.conv.bias = same.weight, same.bias  # the same parameters, not copies
        pads = [max((k - 1) * d + 1 - s, 0) for k, s, d in zip(same.kernel_size, same.stride, same.dilation)]
        self.pad = (pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, self.pad))


def fix_same_padding(net: nn.Module) -> int:
    """Swap every timm ``Conv2dSame`` in ``net`` for a :class:`StaticSameConv` (in place); how many were swapped."""
    try:
        from timm.layers import Conv2dSame
    except ImportError:  # timm versions without it use static padding anyway
        return 0
    swaps = [(name, m) for name, m in net.named_modules() if isinstance(m, Conv2dSame)]
    for name, conv in swaps:
        parent, _, attr = name.rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, attr, StaticSameConv(conv))
    return len(swaps)


def exportable(run_dir: str | Path) -> Exportable:
    """The run's segmenter on the CPU; checked at two image sizes so the dynamic height and width are proven."""
    from .evaluate import load_segmenter

    net, info = load_segmenter(run_dir, "cpu")
    depth = getattr(net, "depth", None)
    if not isinstance(depth, int):
        raise ValueError(f"{run_dir}: its {type(net).__name__} has no integer depth, so the size its input must be "
                         "a multiple of is unknown")
    # The UNets pad their input to a multiple of 2**depth and crop back; that branch is frozen at export, so the
    # exported graph takes multiples of it (padding an image is the caller's part, see preprocess.json).
    multiple = 2**depth
    exported = copy.deepcopy(net)
    fix_same_padding(exported)  # exact for such multiples: checked against the unchanged net at two sizes
    preprocess = {
        "task": "segment",
        "model": info["model"]["name"] if isinstance(info.get("model"), dict) else None,
        "input": {"multiple": multiple, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                  "resize": f"none: images at native scale; pad H and W (reflect) up to multiples of {multiple} "
                            "and crop the outputs back, or cut large images into tiles",
                  "tile_size": (info.get("config") or {}).get("img_size"),
                  "layout": "NCHW", "dtype": "float32", "range": "0..1 then normalised", "channels": "RGB"},
        "classes": list(info["classes"]),
        "colours": [list(map(int, c)) for c in info.get("colours") or []],
        "outputs": [dict(o) for o in OUTPUTS],
    }
    base = max(multiple, 32)
    g = torch.Generator().manual_seed(0)
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    examples = tuple((torch.rand(n, 3, h * base, w * base, generator=g) - mean) / std for n, h, w in
                     ((2, 2, 3), (1, 3, 2)))
    return Exportable(module=ProbsAndLogits(exported).eval(), examples=examples,
                      outputs=tuple(o["name"] for o in OUTPUTS), dynamic={0: "batch", 2: "height", 3: "width"},
                      preprocess=preprocess, checked=("probs",), multiple=multiple,
                      reference=ProbsAndLogits(net).eval())
