"""One contract suite over each registry (as segmentation_models.pytorch's shared tester does): every registered
generator, classifier and segmenter builds from its defaults, keeps its contract's shapes and ranges, round-trips
through ``model.pt`` with ``weights_only=True``, and (generators) resumes through the engine exactly and refuses a
bad sampler option in one line. A model registered tomorrow is checked by the same tests."""

from __future__ import annotations

import pytest
import torch

from tslib.engine import TrainConfig, fit, runs
from tslib.models import build_from_spec, create_model, list_models, model_defaults
from tslib.models.generator import Generator
from tslib.tasks.generate import GenerateConfig
from tslib.tasks.generate.train import make_task

SIZE, CLASSES = 32, 3


def _generator(name: str) -> Generator:
    torch.manual_seed(0)
    cfg = GenerateConfig(manifest="unused", model=name, img_size=SIZE, width=8, latent_dim=8,
                         conditional=model_defaults(name).get("conditional") == "optional")
    kwargs = cfg.model_kwargs(CLASSES)
    kwargs.pop("pretrained", None)  # random feature weights: the contract, not ImageNet, is under test
    return create_model(name, task="generate", **kwargs)


def _labels(model: Generator, n: int) -> torch.Tensor | None:
    return torch.arange(n) % model.num_classes if model.conditional else None


def test_every_registry_is_covered():
    from tslib.models.ddpm import SAMPLERS
    from tslib.tasks.generate.config import SAMPLERS as CONFIG_SAMPLERS

    assert set(list_models("generate")) == {"ae", "vae", "cvae", "dcgan", "projected_gan", "ddpm"}
    assert CONFIG_SAMPLERS == SAMPLERS  # the config and the CLI offer what the model samples with
    assert {"cnn", "efficientnet_lite0"} <= set(list_models("classify"))
    assert {"unet", "fpn"} <= set(list_models("segment"))


@pytest.mark.parametrize("name", list_models("generate"))
def test_generator_contract(name, tmp_path):
    model = _generator(name).eval()
    defaults = model_defaults(name)
    assert isinstance(model, Generator) and defaults["trainer"] in ("reconstruction", "gan", "diffusion")
    assert float(defaults["lr"]) > 0 and isinstance(model.trained_against, tuple)
    assert model.conditional == (model.num_classes > 0)
    opts = {"steps": 2} if model.sampler_options else {}
    z = model.prior(4, generator=torch.Generator().manual_seed(1))
    images = model.decode(z, _labels(model, 4), **opts)
    assert images.shape == (4, 3, SIZE, SIZE) and 0 <= images.min() and images.max() <= 1
    torch.testing.assert_close(model(z, _labels(model, 4), **opts), images)  # forward means decode, for every one
    sampled = model.sample(2, _labels(model, 2), generator=torch.Generator().manual_seed(2), **opts)
    assert sampled.shape == (2, 3, SIZE, SIZE)
    if model.can_encode:
        codes = model.encode(torch.rand(2, 3, SIZE, SIZE), _labels(model, 2))
        assert model.decode(codes, _labels(model, 2)).shape == (2, 3, SIZE, SIZE)
    else:
        with pytest.raises(NotImplementedError, match="has no encoder"):
            model.encode(torch.rand(1, 3, SIZE, SIZE))
    with pytest.raises(ValueError) as bad:
        model.check_options({"bogus": 3})
    assert "--bogus" in str(bad.value) and "\n" not in str(bad.value)
    # model.pt: weights and spec, read back with weights_only=True, the same images
    runs.save_model(tmp_path, model)
    again, saved = runs.load_model(tmp_path, build=build_from_spec)
    assert torch.load(tmp_path / runs.MODEL_FILE, weights_only=True)["spec"] == model.spec
    torch.testing.assert_close(again.decode(z, _labels(model, 4), **opts), images)


def _batches(n_batches: int = 2, n: int = 4) -> list[dict]:
    g = torch.Generator().manual_seed(3)
    return [{"image": torch.rand(n, 3, SIZE, SIZE, generator=g), "label": torch.arange(n) % CLASSES}
            for _ in range(n_batches)]


@pytest.mark.parametrize("name", list_models("generate"))
def test_generator_resumes_exactly(name, tmp_path):
    """Two epochs in one go, or one, a stop, and a resume: the same weights (its own trainer and optimizers)."""
    cfg = GenerateConfig(manifest="unused", model=name, img_size=SIZE, width=8, latent_dim=8)
    engine = TrainConfig(epochs=2, batch_size=4, lr=float(model_defaults(name)["lr"]), schedule="none",
                         num_workers=0, progress=False, device="cpu")
    whole = _generator(name)
    fit(whole, make_task(cfg), _batches(), _batches(1), engine, tmp_path / "whole")

    def stop(info):
        if info["epoch"] == 1:
            raise KeyboardInterrupt

    part = _generator(name)
    assert fit(part, make_task(cfg), _batches(), _batches(1), engine, tmp_path / "part", callbacks=[stop]).stop_reason \
        == "interrupted"
    resumed = _generator(name)
    fit(resumed, make_task(cfg), _batches(), _batches(1), engine, tmp_path / "part", resume=True)
    for (key, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, msg=key)


@pytest.mark.parametrize("name", [n for n in list_models("classify") if n != "efficientnet_v2_l"]
                         + [pytest.param("efficientnet_v2_l", marks=pytest.mark.slow)])
def test_classifier_contract(name, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, 5).eval()
    config = model.data_config
    assert {"input_size", "resize_size", "mean", "std"} <= set(config)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        features = model.backbone(x)
        logits = model(x)
    assert features.shape == (2, model.feature_dim) and logits.shape == (2, 5)
    torch.testing.assert_close(model.head(features), logits)  # backbone, then the head: what the cache relies on
    runs.save_model(tmp_path, model)
    again, _ = runs.load_model(tmp_path, build=build_from_spec)
    with torch.no_grad():
        torch.testing.assert_close(again(x), logits)


@pytest.mark.parametrize("name", list_models("segment"))
def test_segmenter_contract(name, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, task="segment", num_classes=5, depth=3, width=8).eval()
    for size in (64, 70):  # any size: padded to the stride and cropped back
        with torch.no_grad():
            logits = model(torch.rand(1, 3, size, size + 6))
        assert logits.shape == (1, 5, size, size + 6)
    runs.save_model(tmp_path, model)
    again, _ = runs.load_model(tmp_path, build=build_from_spec)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
