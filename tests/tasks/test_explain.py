"""Grad-CAM explanations: the target layer of every classifier, heat maps that localise what the class is about,
frozen backbones, untouched training state, the per-image PNGs and the picking of confident mistakes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tslib.models import Classifier, create_model, list_models, make_data_config
from tslib.tasks.classify import preprocessing
from tslib.tasks.classify.explain import (
    METHODS,
    cam_target_layer,
    explain,
    explain_images,
    most_confident_mistakes,
    overlay,
    write_explanations,
)

#: Every classifier of the registry; the 118M-parameter EfficientNetV2-L marked slow, as in tests/models.
NAMES = [pytest.param(n, marks=pytest.mark.slow) if n == "efficientnet_v2_l" else n
         for n in list_models("classify")]
RED, BLUE = torch.tensor([1.0, -1, -1]), torch.tensor([-1.0, -1, 1])


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny inputs: threads only spin against other processes
    yield
    torch.set_num_threads(before)


def _squares(n: int, g: torch.Generator, size: int = 32, side: int = 8):
    """Noise images with one red (class 0) or blue (class 1) square at a random place; the squares' corners."""
    x = torch.randn(n, 3, size, size, generator=g) * 0.3
    y = torch.randint(0, 2, (n,), generator=g)
    corners = torch.randint(0, size - side + 1, (n, 2), generator=g)
    for i, (r, c) in enumerate(corners.tolist()):
        x[i, :, r:r + side, c:c + side] = (RED if y[i] == 0 else BLUE)[:, None, None]
    return x, y, corners


@pytest.fixture(scope="module")
def square_model() -> Classifier:
    """The tiny cnn trained to tell a red square from a blue one wherever it lies (~1 s)."""
    torch.manual_seed(0)
    model = create_model("cnn", 2, channels=(16, 32), hidden=0, dropout=0.0)
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(40):
        x, y, _ = _squares(32, g)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y, _ = _squares(64, g)
    assert (model.eval()(x).argmax(1) == y).float().mean() > 0.95  # it has learnt the task
    return model


@pytest.mark.parametrize("name", NAMES)
def test_every_classifier_gives_spatial_maps_in_0_1(name):
    torch.manual_seed(0)
    model = create_model(name, 3)
    layer = cam_target_layer(model)
    seen = []
    hook = layer.register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    x = torch.randn(4, 3, 64, 64)
    heats = explain(model, x)
    hook.remove()
    assert len(seen[0]) == 4 and seen[0][-1] > 1  # the chosen layer outputs a [N, C, H, W] map
    assert heats.shape == (4, 64, 64) and heats.dtype == torch.float32
    peak, spread = heats.flatten(1).amax(1), heats.flatten(1).std(1)
    # Scaled to [0, 1] per image; a map is constant only when it is all zero: an untrained head often gives every
    # class a negative score, then Grad-CAM's ReLU finds no positive evidence anywhere (trained: see below).
    assert heats.min() >= 0 and heats.max() <= 1
    assert all((p > 0.99 and s > 0.05) or p == 0 for p, s in zip(peak, spread))
    assert (spread > 0.05).any()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_heat_maps_localise_the_square_that_makes_the_class(square_model, method):
    x, _, corners = _squares(32, torch.Generator().manual_seed(1))
    heats = explain(square_model, x, method=method)
    for heat, (r, c) in zip(heats, corners.tolist()):
        inside = torch.zeros_like(heat, dtype=torch.bool)
        inside[r:r + 8, c:c + 8] = True
        assert inside.flatten()[heat.argmax()]  # the peak lies in the square
        assert heat[inside].mean() > 4 * heat[~inside].mean()


def test_the_target_class_decides_where_the_map_looks(square_model):
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 0.3
    x[0, :, 2:10, 20:28] = RED[:, None, None]  # top right
    x[0, :, 22:30, 3:11] = BLUE[:, None, None]  # bottom left
    red, blue = explain(square_model, x.expand(2, -1, -1, -1), targets=[0, 1])
    assert red[2:10, 20:28].mean() > 0.5 > 5 * red[22:30, 3:11].mean()
    assert blue[22:30, 3:11].mean() > 0.5 > 5 * blue[2:10, 20:28].mean()


def test_frozen_backbone_no_grad_and_training_state_untouched(square_model):
    model = copy.deepcopy(square_model).freeze_backbone().train()
    model.head[-1].weight.grad = marker = torch.ones_like(model.head[-1].weight)
    flags = [p.requires_grad for p in model.parameters()]
    bn = model.backbone.blocks[0][1]
    stats = bn.running_mean.clone()
    x = torch.zeros(2, 3, 32, 32)
    x[:, :, 20:28, 4:12] = RED[:, None, None]
    with torch.no_grad():  # e.g. called from inference code
        heats = explain(model, x, targets=torch.tensor([0, 0]))
    assert heats.shape == (2, 32, 32) and heats[:, 20:28, 4:12].mean() > 4 * heats.mean(0)[:16].mean()
    assert [p.requires_grad for p in model.parameters()] == flags and model.backbone_frozen
    assert model.head[-1].weight.grad is marker  # a training step's gradients survive
    assert model.training and not model.backbone.training  # the frozen backbone stays in eval mode
    assert torch.equal(bn.running_mean, stats) and not x.requires_grad


def test_clear_errors():
    model = create_model("cnn", 3)
    with pytest.raises(ValueError, match=r"unknown CAM method 'eigen'; valid: gradcam, gradcam\+\+"):
        explain(model, torch.randn(1, 3, 32, 32), method="eigen")
    with pytest.raises(ValueError, match="targets must be 1 class indices in 0..2"):
        explain(model, torch.randn(1, 3, 32, 32), targets=[3])
    with pytest.raises(ValueError, match="Grad-CAM needs a tslib Classifier"):
        cam_target_layer(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()))
    flat = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 8)), nn.Linear(8, 2), 8,
                      make_data_config(64, 64, (0.5,) * 3, (0.5,) * 3), [("1",)], name="mlp")
    with pytest.raises(ValueError, match="cannot explain mlp: no backbone stage outputs a spatial"):
        cam_target_layer(flat)


def test_overlay_blends_and_resizes():
    image = np.full((40, 60, 3), 128, np.uint8)
    heat = torch.zeros(20, 30)
    heat[:10, :15] = 1
    out = overlay(image, heat)
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[5, 5], out[35, 55])  # hot and cold corners differ


def test_write_explanations_one_png_per_readable_image(tmp_path):
    torch.manual_seed(0)
    model = create_model("cnn", 3)
    info = {"classes": ["forest", "sea", "street"], "preprocessing": preprocessing(model, 32)}
    rng = np.random.default_rng(0)
    paths = []
    for folder in ("a", "b", "c"):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "photo.jpg")
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(paths[-1])
    paths[2].unlink()  # gone since predict read it
    results = [{"path": str(paths[0]), "class": "sea", "prob": 0.8125},
               {"path": str(tmp_path / "bad.jpg"), "error": "cannot decode image"},
               {"path": str(paths[1]), "class": "forest", "prob": 0.5},
               {"path": str(paths[2]), "class": "street", "prob": 0.9}]
    out = tmp_path / "out"
    written = write_explanations(model, info, results, out, method="gradcam++", batch_size=1)
    assert written == [out / "photo-1_gradcam++.png", out / "photo-2_gradcam++.png"]
    assert sorted(p.name for p in out.iterdir()) == ["photo-1_gradcam++.png", "photo-2_gradcam++.png"]
    card = np.asarray(Image.open(written[0]))
    assert card.shape[1] > 2 * card.shape[0] - 60 and card.shape[0] == 320 + 26  # image | overlay under a text line
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        write_explanations(model, info, results, tmp_path / "file")
    with pytest.raises(ValueError, match="unknown CAM method"):
        write_explanations(model, info, results, tmp_path / "never", method="cam")
    assert not (tmp_path / "never").exists()


def test_explain_images_of_generated_samples():
    torch.manual_seed(0)
    model = create_model("cnn", 3)
    info = {"classes": ["a", "b", "c"], "preprocessing": preprocessing(model, 48),
            "calibration": {"temperature": 2.0}}
    ex = explain_images(model, info, torch.rand(3, 3, 32, 32), targets=[0, 1, 2])
    assert ex["images"].shape == (3, 48, 48, 3) and ex["images"].dtype == np.uint8
    assert ex["heats"].shape == (3, 48, 48) and ex["classes"] == ["a", "b", "c"]
    assert torch.allclose(ex["probs"].sum(1), torch.ones(3))
    logits = model.eval()(torch.from_numpy(ex["images"]).permute(0, 3, 1, 2).float() / 255 * 2 - 1)
    assert torch.allclose(ex["probs"], (logits / 2).softmax(1), atol=0.02)  # the run's temperature is applied


def test_most_confident_mistakes():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.95, 0.05], [0.3, 0.7], [0.99, 0.01]])
    labels = torch.tensor([1, 1, 0, 0, 0, -1])  # 0, 2, 4 wrong; 5 unlabelled never counts
    assert most_confident_mistakes(probs, labels, 2).tolist() == [0, 4]
    assert most_confident_mistakes(probs, labels, 10).tolist() == [0, 4, 2]
    assert most_confident_mistakes(probs, torch.tensor([0, 1, 1, 0, 1, 0]), 3).tolist() == []
