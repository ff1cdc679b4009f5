"""The from-scratch UNet: any input size, several depths, gradients everywhere, and it can fit a mask."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import fit_batch

from tslib.models import create_model
from tslib.models.unet import DoubleConv, UNet


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("size", [(64, 64), (37, 50), (17, 16)])
def test_shapes_for_odd_sizes_and_depths(depth, size):
    model = create_model("unet", task="segment", num_classes=5, depth=depth, width=4)
    out = model(torch.rand(2, 3, *size))
    assert out.shape == (2, 5, *size)


def test_structure_gradients_and_bad_input():
    model = UNet(in_channels=4, num_classes=3, depth=3, width=4)
    assert isinstance(model.encoder, torch.nn.ModuleList) and isinstance(model.decoder, torch.nn.ModuleList)
    assert len(model.encoder) == 4 and len(model.decoder) == 3 and isinstance(model.encoder[0], DoubleConv)
    F.cross_entropy(model(torch.rand(2, 4, 24, 24)), torch.randint(0, 3, (2, 24, 24))).backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match=r"expects \[B, 4, H, W\]"):
        model(torch.rand(1, 3, 24, 24))
    with pytest.raises(ValueError, match="depth"):
        UNet(depth=0)
    with pytest.raises(ValueError, match="unknown model 'unet' for task classify"):
        create_model("unet", task="classify")


def test_overfits_one_mask(one_mask):
    x, y = one_mask
    model = UNet(num_classes=3, depth=2, width=8)
    fit_batch(model, x, y, steps=60, lr=1e-2)
    acc = (model.eval()(x).argmax(1) == y).float().mean().item()
    assert acc > 0.95, acc
