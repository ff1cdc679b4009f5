"""The autoencoders' two decoders: shapes and gradients, no checkerboard from resize-then-conv, the study's
transposed default (and its parameter names) unchanged, and the ``upsample`` setting end to end."""

from __future__ import annotations

import pytest
import torch

from tslib.models import build_from_spec, create_model
from tslib.tasks.generate.config import GenerateConfig
from tslib.tasks.generate.task import vae_terms

# The study's decoder as it was before the option existed: these names are what old model.pt files hold.
STUDY_DECODER = ["decoder.0.weight", "decoder.0.bias", "decoder.1.weight", "decoder.1.bias",
                 "decoder.3.weight", "decoder.3.bias", "decoder.4.weight", "decoder.4.bias",
                 "decoder.6.weight", "decoder.6.bias"]


@pytest.mark.parametrize("size", [64, 128, 150])
@pytest.mark.parametrize("upsample", ["transposed", "resize"])
@pytest.mark.parametrize("name,kw", [("ae", {}), ("vae", {}), ("cvae", {"num_classes": 7})])
def test_both_decoders_shapes_and_gradients(name, kw, upsample, size):
    torch.manual_seed(0)
    model = create_model(name, task="generate", img_size=size, latent_dim=8, width=4, upsample=upsample, **kw)
    x, labels = torch.rand(2, 3, size, size), (torch.tensor([0, 6]) if kw else None)
    out = model.train().reconstruct(x, labels)
    assert out["recon"].shape == x.shape and 0 <= out["recon"].min() and out["recon"].max() <= 1
    terms = vae_terms(out, x)
    (terms["recon"] + terms["kl"]).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing
    samples = model.eval().sample(3, None if labels is None else labels[:1].repeat(3),
                                  generator=torch.Generator().manual_seed(1))
    assert samples.shape == (3, 3, size, size)


def _period2_energy(image: torch.Tensor, border: int) -> float:
    """Largest difference between the four pixel phases (even/odd row x even/odd column) of the interior:
    0 for a flat image, > 0 for a checkerboard."""
    inner = image[..., border:-border, border:-border]
    phases = [inner[..., i::2, j::2] for i in (0, 1) for j in (0, 1)]
    return max(float((p - phases[0]).abs().max()) for p in phases[1:])


def test_resize_decoder_keeps_a_flat_input_flat_and_transposed_does_not():
    torch.manual_seed(0)
    flat = torch.full((1, 32, 8, 8), 0.7)  # one value everywhere: any pattern inside comes from the decoder
    for _ in range(3):  # several random initialisations, not one lucky draw
        resize, transposed = (create_model("ae", task="generate", img_size=64, latent_dim=4, width=8, upsample=u)
                              .decoder.eval() for u in ("resize", "transposed"))
        with torch.no_grad():
            a, b = resize(flat), transposed(flat)
        assert a.shape == b.shape == (1, 3, 64, 64)
        # Zero padding touches at most 7 px from the edge (1 px per 3x3 conv, doubled by each later upsampling).
        assert _period2_energy(a, border=8) < 1e-6
        assert _period2_energy(b, border=8) > 1e-3  # the study's decoder paints a checkerboard on a flat input


def test_study_models_keep_the_transposed_decoder_and_its_parameter_names():
    for name, kw in [("ae", {}), ("vae", {}), ("cvae", {"num_classes": 3})]:
        model = create_model(name, task="generate", img_size=64, latent_dim=8, width=4, **kw)
        assert model.upsample == "transposed"
        assert [k for k, _ in model.named_parameters() if k.startswith("decoder")] == STUDY_DECODER
        assert isinstance(model.decoder[0], torch.nn.ConvTranspose2d)
    # A spec saved before the option existed (no "upsample") rebuilds the transposed decoder and loads its weights.
    old = create_model("cvae", task="generate", num_classes=3, img_size=64, latent_dim=8, width=4)
    spec = {"name": "cvae", "task": "generate", "kwargs": {"num_classes": 3, "img_size": 64, "latent_dim": 8,
                                                           "width": 4}}
    build_from_spec(spec).load_state_dict(old.state_dict())  # strict: raises if any name or shape differs


def test_bad_upsample_is_one_clear_error():
    with pytest.raises(ValueError, match="upsample must be one of"):
        create_model("vae", task="generate", img_size=32, latent_dim=4, width=4, upsample="bilinear")


def test_upsample_setting_validation_and_defaults():
    cfg = GenerateConfig(manifest="m.csv", model="vae")
    assert cfg.upsample is None and cfg.model_kwargs(7)["upsample"] == "transposed"
    assert GenerateConfig(manifest="m.csv", model="ae", upsample="resize").model_kwargs(7)["upsample"] == "resize"
    # The conditional VAE resizes unless told otherwise (measured better); the choice is always passed on, so
    # the saved spec records it.
    new = create_model("cvae", task="generate", **GenerateConfig(manifest="m.csv", model="cvae").model_kwargs(7))
    assert new.spec["kwargs"]["upsample"] == "resize" and isinstance(new.decoder[0], torch.nn.Upsample)
    rebuilt = build_from_spec(new.spec)
    rebuilt.load_state_dict(new.state_dict())
    assert isinstance(rebuilt.decoder[0], torch.nn.Upsample)
    cfg = GenerateConfig(manifest="m.csv", model="cvae", upsample="transposed")
    assert cfg.model_kwargs(7)["upsample"] == "transposed"
    with pytest.raises(ValueError, match="upsample='nearest'; expected one of"):
        GenerateConfig(manifest="m.csv", model="cvae", upsample="nearest")
    with pytest.raises(ValueError, match="--upsample applies to ae .*, not ddpm"):
        GenerateConfig(manifest="m.csv", model="ddpm", upsample="resize")


def test_run_json_without_upsample_still_loads():
    # The settings a generator run.json held before the field existed.
    saved = {"manifest": "m.csv", "model": "vae", "img_size": 64, "latent_dim": None, "width": None, "beta": 1.0,
             "kl_warmup": 0.0, "conditional": False, "gan_lr": 2e-4, "real_label": 0.9, "limit_per_class": None,
             "weighted_sampler": True, "augment": True, "eval_samples": 256,
             "train": {"epochs": 3, "batch_size": 16}}
    cfg = GenerateConfig.from_dict(saved)
    assert cfg.upsample is None and cfg.model_kwargs(7)["upsample"] == "transposed"
    assert cfg.train.epochs == 3
