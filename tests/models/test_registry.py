"""The registry keyed by task: names know their task, builders keep their own arguments, specs rebuild models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tslib.models import build_from_spec, create_model, list_models, model_task, register_model, registry


@pytest.fixture
def toy_generator():
    """A 'generate' model with its own constructor arguments (no num_classes), removed afterwards."""

    class Toy(nn.Module):
        def __init__(self, latent_dim: int, img_size: int) -> None:
            super().__init__()
            self.net = nn.Linear(latent_dim, 3 * img_size * img_size)

    register_model("toy_gen", task="generate")(lambda latent_dim=8, img_size=4: Toy(latent_dim, img_size))
    yield "toy_gen"
    del registry._REGISTRY["toy_gen"]


def test_names_are_keyed_by_task(toy_generator):
    assert list_models("classify") == ["cnn", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2",
                                       "efficientnet_v2_l", "efficientnet_v2_s"]
    generators = list_models("generate")
    assert generators == sorted(generators)
    assert {"ae", "cvae", "dcgan", "projected_gan", "toy_gen", "vae"} <= set(generators)
    assert list_models("segment") == ["deeplabv3plus", "fpn", "smp_unet", "unet"]
    assert toy_generator in list_models() and model_task("cnn") == "classify"
    with pytest.raises(ValueError, match="unknown task 'paint'.*classify, generate, segment"):
        list_models("paint")
    with pytest.raises(ValueError, match=r"unknown model 'toy_gen' for task classify \('toy_gen' is a generate"
                                         r" model\); valid names for classify: cnn, efficientnet_lite0"):
        create_model("toy_gen", task="classify")
    with pytest.raises(ValueError, match="unknown model 'segformer' for task segment; valid names for segment: "
                                         "deeplabv3plus, fpn, smp_unet, unet"):
        create_model("segformer", task="segment")
    assert "toy_gen" not in list_models("classify")
    with pytest.raises(ValueError, match="registered twice"):
        register_model("cnn", task="segment")(lambda: nn.Identity())
    with pytest.raises(ValueError, match="unknown task"):
        register_model("x", task="detect")


def test_builders_keep_their_own_arguments_and_specs_rebuild(toy_generator):
    gen = create_model(toy_generator, latent_dim=5, img_size=2)
    assert gen.net.in_features == 5 and gen.spec == {"name": "toy_gen", "task": "generate",
                                                      "kwargs": {"latent_dim": 5, "img_size": 2}}
    assert build_from_spec(gen.spec).net.out_features == 12
    clf = create_model("cnn", 3, hidden=16, dropout=0.1, freeze=True)
    assert clf.backbone_frozen and clf.spec["kwargs"] == {"hidden": 16, "dropout": 0.1, "args": [3]}
    again = build_from_spec(clf.spec)  # the architecture only: trainable, untrained, same shapes
    assert not again.backbone_frozen
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in clf.state_dict().items()}
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        create_model("cnn", 0)
    assert torch.is_tensor(next(again.parameters()))
